/**
 * JSON-RPC 2.0 frames with the Mongoose OS extensions (reference mos-protocols.md §1):
 * `src`, `dst`, `tag` echoed, `args` as an alias of `params`, `error.code` 0 meaning success.
 */
import { RPC_INVALID_REQUEST } from "../errors.js";

export type RpcId = string | number | null;

export interface RpcErrorObject {
  code: number;
  message?: string;
  data?: unknown;
}

/** A request (with `id`) or a notification (without). */
export interface RequestFrame {
  jsonrpc?: "2.0";
  id?: RpcId;
  method: string;
  params?: unknown;
  src?: string;
  dst?: string;
  tag?: string;
  auth?: unknown;
}

export interface ResponseFrame {
  jsonrpc?: "2.0";
  id: RpcId;
  src?: string;
  dst?: string;
  tag?: string;
  result?: unknown;
  error?: RpcErrorObject;
}

/** What a decoded JSON value turned out to be. */
export type Classified =
  | { kind: "request"; frame: RequestFrame }
  | { kind: "notification"; frame: RequestFrame }
  | { kind: "response"; frame: ResponseFrame }
  | { kind: "invalid"; id: RpcId; message: string };

type Obj = Record<string, unknown>;

function isId(v: unknown): v is RpcId {
  return v === null || typeof v === "string" || (typeof v === "number" && Number.isFinite(v));
}

/** Classifies one decoded JSON value (not a batch) as request, notification, response or invalid. */
export function classify(value: unknown): Classified {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { kind: "invalid", id: null, message: "invalid request: a frame must be a JSON object" };
  }
  const o = value as Obj;
  const hasId = "id" in o;
  if (hasId && !isId(o.id)) {
    return { kind: "invalid", id: null, message: "invalid request: id must be a string, a number or null" };
  }
  const id = hasId ? (o.id as RpcId) : null;
  if (o.jsonrpc !== undefined && o.jsonrpc !== "2.0") {
    return { kind: "invalid", id, message: 'invalid request: jsonrpc must be "2.0"' };
  }
  if ("method" in o) {
    if (typeof o.method !== "string" || o.method === "") {
      return { kind: "invalid", id, message: "invalid request: method must be a non-empty string" };
    }
    // Three plain checks rather than a loop over names: this runs for every frame (bench/rpc-dispatch).
    const bad = notString(o.src) ? "src" : notString(o.dst) ? "dst" : notString(o.tag) ? "tag" : undefined;
    if (bad !== undefined)
      return { kind: "invalid", id, message: `invalid request: ${bad} must be a string` };
    if (o.params === undefined && o.args !== undefined) o.params = o.args;
    return { kind: hasId ? "request" : "notification", frame: o as unknown as RequestFrame };
  }
  if ("result" in o || "error" in o) {
    if ("error" in o && !isErrorObject(o.error)) {
      return {
        kind: "invalid",
        id,
        message: "invalid response: error must be an object with a numeric code",
      };
    }
    if (!hasId) o.id = null;
    return { kind: "response", frame: o as unknown as ResponseFrame };
  }
  return { kind: "invalid", id, message: "invalid request: no method, result or error" };
}

function notString(v: unknown): boolean {
  return v !== undefined && typeof v !== "string";
}

function isErrorObject(v: unknown): v is RpcErrorObject {
  return typeof v === "object" && v !== null && typeof (v as Obj).code === "number";
}

/** Envelope fields a response copies from its request: jsonrpc marker, id, src/dst swap, tag. */
export function responseEnvelope(
  req: RequestFrame | undefined,
  id: RpcId,
  selfId: string | undefined,
): ResponseFrame {
  const r: ResponseFrame = req?.jsonrpc === "2.0" ? { jsonrpc: "2.0", id } : { id };
  if (selfId !== undefined) {
    const src = req?.dst !== undefined && req.dst !== "" ? req.dst : selfId;
    r.src = src;
  }
  if (req?.src !== undefined && req.src !== "") r.dst = req.src;
  if (req?.tag !== undefined) r.tag = req.tag;
  return r;
}

/** An error response, for protocol errors found before a handler runs. */
export function errorResponse(
  req: RequestFrame | undefined,
  id: RpcId,
  selfId: string | undefined,
  error: RpcErrorObject,
): ResponseFrame {
  const r = responseEnvelope(req, id, selfId);
  r.error = error;
  return r;
}

/** The -32600 response to a frame that is not a valid request. */
export function invalidRequest(id: RpcId, message: string, selfId?: string): ResponseFrame {
  return errorResponse(undefined, id, selfId, { code: RPC_INVALID_REQUEST, message });
}

/** A value's JSON text; a finite number's without JSON.stringify's generic machinery (same text). */
function valueText(v: unknown): string | undefined {
  return typeof v === "number" && Number.isFinite(v) ? String(v) : JSON.stringify(v);
}

/**
 * A frame's JSON text, exactly what `JSON.stringify(frame)` gives. The most common frame out, a
 * success response `{"jsonrpc":"2.0","id":…,"result":…}` (those keys, that order, nothing else), is
 * written from its parts, as mjson prints one: about a fifth of the cost of stringifying the object
 * (docs/performance.md, rpc-dispatch). Anything else goes to JSON.stringify.
 */
export function encodeFrame(frame: object): string {
  const f = frame as { jsonrpc?: unknown; id?: unknown; result?: unknown };
  let n = 0;
  for (const k in f) {
    if (k !== (n === 0 ? "jsonrpc" : n === 1 ? "id" : n === 2 ? "result" : "")) return JSON.stringify(f);
    n++;
  }
  const id = f.id;
  if (n !== 3 || f.jsonrpc !== "2.0" || !(id === null || typeof id === "number" || typeof id === "string"))
    return JSON.stringify(f);
  const result = valueText(f.result);
  // A result JSON cannot hold (a function, a symbol): JSON.stringify leaves the member out.
  if (result === undefined) return JSON.stringify(f);
  return `{"jsonrpc":"2.0","id":${valueText(id)!},"result":${result}}`;
}
