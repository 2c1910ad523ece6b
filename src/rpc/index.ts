/** The transport-agnostic JSON-RPC engine. */
export * from "./frame.js";
export * from "./registry.js";
export * from "./server.js";
export * from "./peer.js";
export * from "./builtins.js";
export * from "./forwarder.js";
