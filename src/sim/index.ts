/** The simulated host, exported as `ccm/sim` for users' own tests. */
export * from "./host-simulator.js";
export * from "./behaviors.js";
