/**
 * One error class for the whole of ccm, with a catalogue of string codes (zwave-js style).
 * Each code maps to a JSON-RPC error code so that a CcmError thrown anywhere can be answered on the wire.
 */

/** JSON-RPC 2.0 protocol error codes (spec §5.1). */
export const RPC_PARSE_ERROR = -32700;
export const RPC_INVALID_REQUEST = -32600;
export const RPC_METHOD_NOT_FOUND = -32601;
export const RPC_INVALID_PARAMS = -32602;
export const RPC_INTERNAL_ERROR = -32603;

const catalogue = {
  RPC_PARSE_ERROR: { rpcCode: RPC_PARSE_ERROR, retryable: false },
  RPC_INVALID_REQUEST: { rpcCode: RPC_INVALID_REQUEST, retryable: false },
  RPC_METHOD_NOT_FOUND: { rpcCode: RPC_METHOD_NOT_FOUND, retryable: false },
  RPC_INVALID_PARAMS: { rpcCode: RPC_INVALID_PARAMS, retryable: false },
  RPC_INTERNAL: { rpcCode: RPC_INTERNAL_ERROR, retryable: false },
  /** The peer answered with an error object; `rpcCode` is the peer's code. */
  RPC_REMOTE: { rpcCode: -32000, retryable: false },
  RPC_TIMEOUT: { rpcCode: -32001, retryable: true },
  RPC_ABORTED: { rpcCode: -32002, retryable: true },
  RPC_TOO_MANY_PENDING: { rpcCode: -32003, retryable: true },
  LINK_DOWN: { rpcCode: -32004, retryable: true },
  FRAME_TOO_LARGE: { rpcCode: RPC_INVALID_REQUEST, retryable: false },
  TRANSPORT_OPEN_FAILED: { rpcCode: -32005, retryable: true },
  BAD_ARGUMENT: { rpcCode: RPC_INVALID_PARAMS, retryable: false },
  CONFIG_INVALID: { rpcCode: RPC_INVALID_PARAMS, retryable: false },
  /** Config.Set of a key the vendor locked (`config.lock`). */
  CONFIG_LOCKED: { rpcCode: 403, retryable: false },
  /** Config.Get of a key the schema does not have (Mongoose OS: 404 `invalid config key`). */
  CONFIG_KEY_NOT_FOUND: { rpcCode: 404, retryable: false },
  /** The saved config could not be written (disk full, read-only data dir). */
  CONFIG_SAVE_FAILED: { rpcCode: -32007, retryable: true },
  /** A call the caller's channel or credentials do not allow (e.g. factory reset from the network). */
  NOT_ALLOWED: { rpcCode: 403, retryable: false },
  /** A GPIO tool (gpioget, gpioset, gpiomon) failed; the message carries what it printed. */
  LINE_FAILED: { rpcCode: -32009, retryable: true },
  /** The network backend (nmcli) failed to do what was asked. */
  NETWORK_FAILED: { rpcCode: -32006, retryable: true },
  /** The shadow refused an update or get; `rpcCode` is its HTTP-style code (400, 404, 409, 413). */
  SHADOW_REJECTED: { rpcCode: 400, retryable: false },
  /** A firmware update could not be received, verified or applied; the message says which. */
  OTA_FAILED: { rpcCode: -32013, retryable: false },
  /** A firmware bundle that is not what it claims: a bad zip, a checksum mismatch, a wrong platform. */
  BUNDLE_INVALID: { rpcCode: -32010, retryable: false },
  /** A bundle the trusted keys did not sign (unsigned, wrongly signed, or its manifest changed). */
  BUNDLE_UNTRUSTED: { rpcCode: -32011, retryable: false },
  /** A CCM self-update that could not be staged, committed or reverted. */
  UPDATE_FAILED: { rpcCode: -32012, retryable: false },
  /** Flashing the host failed; `data.step` names the step (sync, get-id, erase, write, verify, go, confirm…). */
  FLASH_FAILED: { rpcCode: -32008, retryable: true },
  /** A message could not be stored on disk (the MQTT outbox: disk full, data dir gone or read-only). */
  STORE_FAILED: { rpcCode: -32014, retryable: true },
} as const;

/** Every error code ccm can raise. */
export type CcmErrorCode = keyof typeof catalogue;

export interface CcmErrorOptions {
  /** Overrides the catalogue's JSON-RPC code (used for errors relayed from a peer). */
  rpcCode?: number;
  /** Structured context; sent as `error.data` on the wire. */
  data?: unknown;
  cause?: unknown;
}

/** The error type of ccm: a string code from the catalogue, a JSON-RPC code, and optional data. */
export class CcmError extends Error {
  override readonly name = "CcmError";
  readonly code: CcmErrorCode;
  readonly rpcCode: number;
  readonly data: unknown;

  constructor(code: CcmErrorCode, message: string, options: CcmErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.rpcCode = options.rpcCode ?? catalogue[code].rpcCode;
    this.data = options.data;
  }

  /** True when trying the same thing again later may succeed (timeouts, a link that went down). */
  get retryable(): boolean {
    return catalogue[this.code].retryable;
  }
}

/** Whether `e` is a CcmError, optionally of one specific code. */
export function isCcmError(e: unknown, code?: CcmErrorCode): e is CcmError {
  return e instanceof CcmError && (code === undefined || e.code === code);
}

/** A human-readable message for any thrown value. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
