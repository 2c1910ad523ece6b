/** What the shadow service needs of whoever keeps the shadow: the CCM itself, AWS IoT, … */
import type { EventEmitter } from "node:events";
import { CcmError } from "../errors.js";
import type { JsonObject, ShadowError } from "./document.js";

export interface ShadowBackendEvents {
  /** Desired differs from reported: the delta's state, to send to the host. */
  delta: [state: JsonObject, version: number];
}

/** A shadow keeper. Rejections are CcmError SHADOW_REJECTED with the keeper's code (409, 400…). */
export interface ShadowBackend extends EventEmitter<ShadowBackendEvents> {
  /** `private` (the CCM is the authority) or `aws`. */
  readonly kind: string;
  /** Applies an update request document (`{"state":{…},"version"?:N}`); resolves with what was accepted. */
  update(request: JsonObject): Promise<JsonObject>;
  /**
   * Merges the host's state into reported. Optional: a keeper that can be out of reach keeps the
   * report until it can send it; without it, `update({state: {reported}})` is used.
   */
  report?(reported: JsonObject): Promise<JsonObject>;
  /** The whole document: state (with delta), metadata, version. */
  get(): Promise<JsonObject>;
  /** The delta now, if any (sent to a host that comes up); asks the keeper when it is remote. */
  pendingDelta(): Promise<JsonObject | undefined>;
  start(): void;
  stop(): void;
}

/** The CcmError for a rejected shadow request. */
export function rejected(e: Pick<ShadowError, "code" | "message">): CcmError {
  return new CcmError("SHADOW_REJECTED", e.message, { rpcCode: e.code });
}
