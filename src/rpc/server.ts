/**
 * Serves requests from a registry: validation, dispatch, batches and the protocol error codes of
 * JSON-RPC 2.0 §5.1. Synchronous handlers answer synchronously (no promise per frame).
 */
import {
  CcmError,
  RPC_INTERNAL_ERROR,
  RPC_INVALID_REQUEST,
  RPC_PARSE_ERROR,
  errorMessage,
} from "../errors.js";
import {
  classify,
  errorResponse,
  responseEnvelope,
  type RequestFrame,
  type ResponseFrame,
  type RpcErrorObject,
} from "./frame.js";
import type { CallContext, MethodRegistry } from "./registry.js";

/** The channel part of a call context; the frame is added per request. */
export type ChannelContext = Omit<CallContext, "frame">;

export type Reply = (response: ResponseFrame | ResponseFrame[]) => void;

export interface RpcServerOptions {
  /** This node's id: responses carry it as `src` (Mongoose OS dialect). */
  selfId?: string;
  /** Serves a method the registry lacks (forwarding); return undefined to answer -32601. */
  fallback?: (frame: RequestFrame, ctx: CallContext) => Promise<unknown> | undefined;
  /**
   * Runs before every request and notification: returns the error to answer with to refuse it.
   * May set `ctx.user`. Forwarded calls pass through it too.
   */
  authorize?: (frame: RequestFrame, ctx: CallContext) => RpcErrorObject | undefined;
  /** Most requests in one batch; a larger batch is refused whole. Default 64. */
  maxBatch?: number;
  /** Told about handler failures that were not CcmErrors (bugs), for the log. */
  onInternalError?: (error: unknown, method: string) => void;
  /**
   * Told when a notification (no id) was refused or failed: nobody is answered, so this is the only
   * trace of it (the daemon logs it).
   */
  onNotificationFailed?: (method: string, error: RpcErrorObject, ctx: CallContext) => void;
}

/** Answers requests and notifications using a MethodRegistry. */
export class RpcServer {
  readonly registry: MethodRegistry;
  private readonly options: RpcServerOptions;
  private readonly maxBatch: number;

  constructor(registry: MethodRegistry, options: RpcServerOptions = {}) {
    this.registry = registry;
    this.options = options;
    this.maxBatch = options.maxBatch ?? 64;
  }

  /** The -32700 answer to bytes that are not JSON. */
  parseError(detail: string): ResponseFrame {
    return errorResponse(SPEC, null, this.options.selfId, {
      code: RPC_PARSE_ERROR,
      message: `parse error: ${detail}`,
    });
  }

  /** Handles a decoded value (object or batch); `reply` is called once, or never for notifications. */
  handle(value: unknown, ctx: ChannelContext, reply: Reply): void {
    if (Array.isArray(value)) {
      this.handleBatch(value, ctx, reply);
      return;
    }
    this.handleOne(value, ctx, (r) => {
      if (r !== undefined) reply(r);
    });
  }

  /** Handles one request or notification already classified. */
  dispatch(
    frame: RequestFrame,
    isRequest: boolean,
    ctx: ChannelContext,
    done: (r: ResponseFrame | undefined) => void,
  ): void {
    // Spelled out, not `{...ctx, frame}`: V8 11 takes a slow path for a spread plus a member, which
    // was half of the dispatch cost (docs/performance.md). No closures per call for the same reason.
    const full: CallContext = { channel: ctx.channel, peer: ctx.peer, user: ctx.user, frame };
    const denied = this.options.authorize?.(frame, full);
    if (denied !== undefined) {
      if (!isRequest) this.options.onNotificationFailed?.(frame.method, denied, full);
      done(isRequest ? errorResponse(frame, frame.id ?? null, this.options.selfId, denied) : undefined);
      return;
    }
    const method = this.registry.get(frame.method);
    let result: unknown;
    try {
      if (method === undefined) {
        result = this.options.fallback?.(frame, full);
        if (result === undefined) {
          this.fail(frame, isRequest, done, new CcmError("RPC_METHOD_NOT_FOUND", "method not found"), full);
          return;
        }
      } else {
        result = method.handler(method.prepare(frame.params), full);
      }
    } catch (e) {
      this.fail(frame, isRequest, done, e, full);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (r) => {
          this.succeed(frame, isRequest, done, r);
        },
        (e: unknown) => {
          this.fail(frame, isRequest, done, e, full);
        },
      );
    } else this.succeed(frame, isRequest, done, result);
  }

  private succeed(
    frame: RequestFrame,
    isRequest: boolean,
    done: (r: ResponseFrame | undefined) => void,
    result: unknown,
  ): void {
    if (!isRequest) {
      done(undefined);
      return;
    }
    const r = responseEnvelope(frame, frame.id ?? null, this.options.selfId);
    r.result = result ?? null;
    done(r);
  }

  private fail(
    frame: RequestFrame,
    isRequest: boolean,
    done: (r: ResponseFrame | undefined) => void,
    e: unknown,
    ctx: CallContext,
  ): void {
    const error = this.errorObject(e, frame.method);
    if (!isRequest) this.options.onNotificationFailed?.(frame.method, error, ctx);
    done(isRequest ? errorResponse(frame, frame.id ?? null, this.options.selfId, error) : undefined);
  }

  private handleOne(value: unknown, ctx: ChannelContext, done: (r: ResponseFrame | undefined) => void): void {
    const c = classify(value);
    switch (c.kind) {
      case "request":
        this.dispatch(c.frame, true, ctx, done);
        return;
      case "notification":
        this.dispatch(c.frame, false, ctx, done);
        return;
      case "invalid":
        done(this.invalid(value, c.id, c.message));
        return;
      case "response":
        done(this.invalid(value, c.frame.id, "invalid request: a response where a request was expected"));
        return;
    }
  }

  private handleBatch(values: unknown[], ctx: ChannelContext, reply: Reply): void {
    if (values.length === 0) {
      reply(this.invalid(SPEC, null, "invalid request: empty batch"));
      return;
    }
    if (values.length > this.maxBatch) {
      reply(this.invalid(SPEC, null, `invalid request: batch of ${values.length} exceeds ${this.maxBatch}`));
      return;
    }
    const slots: (ResponseFrame | undefined)[] = new Array<ResponseFrame | undefined>(values.length);
    let outstanding = values.length;
    values.forEach((v, i) => {
      this.handleOne(v, ctx, (r) => {
        slots[i] = r;
        if (--outstanding === 0) {
          // Batches exist only in JSON-RPC 2.0, so every answer in one carries the member.
          const out = slots
            .filter((s): s is ResponseFrame => s !== undefined)
            .map((s) => ({ jsonrpc: "2.0" as const, ...s }));
          if (out.length > 0) reply(out);
        }
      });
    });
  }

  private invalid(value: unknown, id: unknown, message: string): ResponseFrame {
    const jsonrpc =
      typeof value === "object" && value !== null && (value as { jsonrpc?: unknown }).jsonrpc === "2.0";
    const safeId = typeof id === "string" || typeof id === "number" ? id : null;
    const pseudo = jsonrpc ? ({ jsonrpc: "2.0", method: "" } as const) : undefined;
    return errorResponse(pseudo, safeId, this.options.selfId, { code: RPC_INVALID_REQUEST, message });
  }

  private errorObject(e: unknown, method: string): RpcErrorObject {
    if (e instanceof CcmError) {
      const o: RpcErrorObject = { code: e.rpcCode, message: e.message };
      if (e.data !== undefined) o.data = e.data;
      return o;
    }
    this.options.onInternalError?.(e, method);
    return { code: RPC_INTERNAL_ERROR, message: `internal error: ${errorMessage(e)}` };
  }
}

/** A stand-in request for answers that must carry `"jsonrpc":"2.0"` (spec-only constructs). */
const SPEC: RequestFrame = { jsonrpc: "2.0", method: "" };

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}
