/**
 * Routing of calls the node does not serve itself to the peer that does (the host MCU):
 * forwarded when the peer exports the method (or says nothing of what it exports), its list
 * re-read on a miss, and never sent back to the peer it came from.
 */
import { CcmError } from "../errors.js";
import { systemClock, type Clock } from "../util/clock.js";
import type { RequestFrame } from "./frame.js";
import type { CallContext } from "./registry.js";

/** Where unserved calls go. */
export interface ForwardTarget {
  /** Channel type of the target's own link: its calls are never forwarded back to it. */
  readonly channel: string;
  /** Whether the target can be reached now. */
  available(): boolean;
  /** The methods it exports; null when unknown (then everything is forwarded). */
  methods(): readonly string[] | null;
  call(method: string, params: unknown): Promise<unknown>;
  notify(method: string, params: unknown): void;
  /** Re-reads the method list. */
  refresh?(): Promise<void>;
}

export interface ForwarderOptions {
  /** Least time between two re-reads of the method list on misses: 2 s. */
  refreshEveryMs?: number;
  clock?: Clock;
}

/** Builds an RpcServer `fallback` that forwards unserved calls to `target`. */
export function createForwarder(
  target: ForwardTarget,
  options: ForwarderOptions = {},
): (frame: RequestFrame, ctx: CallContext) => Promise<unknown> | undefined {
  const clock = options.clock ?? systemClock;
  const refreshEveryMs = options.refreshEveryMs ?? 2000;
  let lastRefresh = -Infinity;
  const exports = (method: string): boolean => {
    const list = target.methods();
    return list === null || list.includes(method);
  };
  const send = (frame: RequestFrame): Promise<unknown> => {
    if (!target.available()) {
      return Promise.reject(new CcmError("LINK_DOWN", `${frame.method}: the host is not connected`));
    }
    if (frame.id === undefined) {
      target.notify(frame.method, frame.params);
      return Promise.resolve(null);
    }
    return target.call(frame.method, frame.params);
  };
  return (frame, ctx) => {
    if (ctx.channel === target.channel) return undefined;
    if (exports(frame.method)) return send(frame);
    if (target.refresh === undefined || !target.available() || clock.now() - lastRefresh < refreshEveryMs)
      return undefined;
    lastRefresh = clock.now();
    return target.refresh().then(() => {
      if (exports(frame.method)) return send(frame);
      throw new CcmError("RPC_METHOD_NOT_FOUND", "method not found");
    });
  };
}
