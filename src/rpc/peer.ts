/**
 * One end of a JSON-RPC conversation over any channel: calls out (ids, pending map, timeouts,
 * AbortSignal, a bound on pending calls) and serves calls in through an RpcServer.
 * No I/O: frames leave through the injected `send`, arrive through `receive`.
 */
import { CcmError, errorMessage } from "../errors.js";
import { systemClock, type Clock } from "../util/clock.js";
import { classify, type RequestFrame, type ResponseFrame, type RpcId } from "./frame.js";
import type { ChannelContext, RpcServer } from "./server.js";

export interface CallOptions {
  /** Milliseconds to wait for the answer; default the peer's `timeoutMs`. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Extra envelope fields (Mongoose OS `src`, `dst`, `tag`, `auth`). */
  envelope?: Partial<Pick<RequestFrame, "src" | "dst" | "tag" | "auth">>;
}

export interface RpcPeerOptions {
  /** Hands a frame to the channel. Throwing fails the call that sent it. */
  send: (frame: RequestFrame | ResponseFrame | ResponseFrame[]) => void;
  /** Serves incoming requests; without one, requests get -32601. */
  server?: RpcServer;
  /** Context given to the server for every incoming request. */
  context?: ChannelContext;
  /** Default call timeout: 10 s. */
  timeoutMs?: number;
  /** Most calls awaiting an answer at once: 32. */
  maxPending?: number;
  /** Put `"jsonrpc":"2.0"` on outgoing requests (default true). */
  jsonrpcMember?: boolean;
  clock?: Clock;
  /** Told about frames that could not be used: unmatched responses, invalid frames. */
  onProblem?: (problem: PeerProblem, detail: string) => void;
}

export type PeerProblem = "unmatched-response" | "invalid-frame" | "parse-error";

interface Pending {
  method: string;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
  timer: unknown;
  cleanup: () => void;
}

/** A JSON-RPC peer: `call`, `notify`, `receive`, `close`. */
export class RpcPeer {
  private readonly pending = new Map<string, Pending>();
  private readonly options: RpcPeerOptions;
  private readonly clock: Clock;
  private nextId: number;
  private closedReason: Error | undefined;

  constructor(options: RpcPeerOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.nextId = 1 + Math.floor(Math.random() * 1_000_000);
  }

  /** Calls in flight. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Calls `method` on the other end; resolves with its result, rejects with a CcmError. */
  call(method: string, params?: unknown, options: CallOptions = {}): Promise<unknown> {
    if (this.closedReason !== undefined) {
      return Promise.reject(new CcmError("LINK_DOWN", `${method}: ${this.closedReason.message}`));
    }
    const max = this.options.maxPending ?? 32;
    if (this.pending.size >= max) {
      return Promise.reject(new CcmError("RPC_TOO_MANY_PENDING", `${method}: ${max} calls already pending`));
    }
    const signal = options.signal;
    if (signal?.aborted === true) {
      return Promise.reject(new CcmError("RPC_ABORTED", `${method}: aborted`, { cause: signal.reason }));
    }
    const id = this.nextId++;
    const key = String(id);
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? 10_000;
    return new Promise<unknown>((resolve, reject) => {
      const onAbort = (): void => {
        this.settle(key)?.reject(
          new CcmError("RPC_ABORTED", `${method}: aborted`, { cause: signal?.reason }),
        );
      };
      const timer = this.clock.setTimeout(() => {
        this.settle(key)?.reject(new CcmError("RPC_TIMEOUT", `${method}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = (): void => {
        this.clock.clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.pending.set(key, { method, resolve, reject, timer, cleanup });
      try {
        this.options.send(this.request(method, params, id, options.envelope));
      } catch (e) {
        this.settle(key)?.reject(new CcmError("LINK_DOWN", `${method}: ${errorMessage(e)}`, { cause: e }));
      }
    });
  }

  /** Sends a notification: no id, never answered. */
  notify(method: string, params?: unknown, envelope?: CallOptions["envelope"]): void {
    if (this.closedReason !== undefined)
      throw new CcmError("LINK_DOWN", `${method}: ${this.closedReason.message}`);
    this.options.send(this.request(method, params, undefined, envelope));
  }

  /** Feeds one frame's text as it came off the channel. */
  receiveText(text: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      this.options.onProblem?.("parse-error", errorMessage(e));
      if (this.options.server !== undefined)
        this.options.send(this.options.server.parseError(errorMessage(e)));
      return;
    }
    this.receive(value);
  }

  /** Feeds one decoded frame (object or batch). */
  receive(value: unknown): void {
    if (Array.isArray(value) && value.length > 0 && value.every(isResponseLike)) {
      for (const v of value) this.receive(v);
      return;
    }
    if (!Array.isArray(value)) {
      const c = classify(value);
      if (c.kind === "response") {
        this.resolve(c.frame);
        return;
      }
      if (c.kind === "request" || c.kind === "notification") {
        this.serve(c.frame, c.kind === "request");
        return;
      }
    }
    const server = this.options.server;
    if (server === undefined) {
      this.options.onProblem?.("invalid-frame", JSON.stringify(value).slice(0, 200));
      return;
    }
    server.handle(value, this.options.context ?? { channel: "local" }, (r) => {
      this.sendQuietly(r);
    });
  }

  /** Fails every pending call with LINK_DOWN; later calls fail at once until `reopen()`. */
  close(reason = "link closed"): void {
    this.closedReason = new Error(reason);
    for (const [key, p] of [...this.pending]) {
      this.settle(key);
      p.reject(new CcmError("LINK_DOWN", `${p.method}: ${reason}`));
    }
  }

  /** Accepts calls again after `close()` (the link came back). */
  reopen(): void {
    this.closedReason = undefined;
  }

  private serve(frame: RequestFrame, isRequest: boolean): void {
    const server = this.options.server;
    if (server === undefined) {
      if (isRequest)
        this.sendQuietly({ id: frame.id ?? null, error: { code: -32601, message: "method not found" } });
      return;
    }
    server.dispatch(frame, isRequest, this.options.context ?? LOCAL, this.answer);
  }

  /** Made once, not per request (bench/rpc-dispatch). */
  private readonly answer = (r: ResponseFrame | undefined): void => {
    if (r !== undefined) this.sendQuietly(r);
  };

  private sendQuietly(frame: ResponseFrame | ResponseFrame[]): void {
    try {
      this.options.send(frame);
    } catch (e) {
      this.options.onProblem?.("invalid-frame", `reply not sent: ${errorMessage(e)}`);
    }
  }

  private resolve(frame: ResponseFrame): void {
    const p = frame.id === null ? undefined : this.settle(String(frame.id));
    if (p === undefined) {
      this.options.onProblem?.("unmatched-response", `no call pending with id ${JSON.stringify(frame.id)}`);
      return;
    }
    const err = frame.error;
    // Mongoose OS answers success as {"code":0}; a JSON-RPC 2.0 peer's code 0 is still an error.
    if (err !== undefined && (err.code !== 0 || frame.jsonrpc === "2.0")) {
      const message = err.message ?? `error ${err.code}`;
      p.reject(new CcmError("RPC_REMOTE", message, { rpcCode: err.code, data: err.data }));
    } else {
      p.resolve(frame.result ?? null);
    }
  }

  private settle(key: string): Pending | undefined {
    const p = this.pending.get(key);
    if (p === undefined) return undefined;
    this.pending.delete(key);
    p.cleanup();
    return p;
  }

  private request(
    method: string,
    params: unknown,
    id: RpcId | undefined,
    envelope?: CallOptions["envelope"],
  ): RequestFrame {
    const f: RequestFrame = this.options.jsonrpcMember === false ? { method } : { jsonrpc: "2.0", method };
    if (envelope?.src !== undefined) f.src = envelope.src;
    if (envelope?.dst !== undefined) f.dst = envelope.dst;
    if (envelope?.tag !== undefined) f.tag = envelope.tag;
    if (id !== undefined) f.id = id;
    if (params !== undefined) f.params = params;
    if (envelope?.auth !== undefined) f.auth = envelope.auth;
    return f;
  }
}

const LOCAL: ChannelContext = { channel: "local" };

function isResponseLike(v: unknown): boolean {
  return typeof v === "object" && v !== null && !("method" in v) && ("result" in v || "error" in v);
}
