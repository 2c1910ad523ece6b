/** The simulated host, exported as `ccm/sim` for users' own tests. */
export * from "./host-simulator.js";
export * from "./behaviors.js";
export * from "./stm32/chips.js";
export * from "./stm32/image.js";
export * from "./stm32/memory.js";
export * from "./stm32/bootloader.js";
export * from "./stm32/faults.js";
export * from "./stm32/wire.js";
export * from "./stm32/mcu.js";
export * from "./stm32/lines-server.js";
