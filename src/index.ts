/**
 * ccm as a library: the JSON-RPC engine, the serial channel, the daemon and its config.
 * The host simulator is exported separately as `ccm/sim`.
 */
export * from "./rpc/index.js";
export { CcmError, isCcmError, type CcmErrorCode } from "./errors.js";
export { LineFramer, encodeLine, crc32Hex, type FramerSink, type FrameInfo } from "./framing/line-framer.js";
export type { ByteTransport, SerialSettings } from "./transports/transport.js";
export { createTransport } from "./transports/open.js";
export { memoryPair } from "./transports/memory.js";
export { SerialLink, type SerialLinkOptions, type LinkStats } from "./channels/serial-link.js";
export { SerialRpcChannel, type SerialRpcOptions } from "./channels/serial-rpc.js";
export { Daemon, type DaemonOptions } from "./daemon/daemon.js";
export { HostLink, type HostInfo, type HostState } from "./daemon/host-link.js";
export { loadConfig, type ConfigSources } from "./config/load.js";
export { ConfigSchema, type CcmConfig } from "./config/schema.js";
export { createLogger, type Logger } from "./log/logger.js";
export { VERSION } from "./version.js";
