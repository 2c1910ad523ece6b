/**
 * The HTTP RPC channel (reference mos-protocols.md §4): `POST /rpc` with a whole frame answers a
 * whole frame; `/rpc/Method` takes params as the body (or the query of a GET) and answers the
 * result alone. CORS for pages on other origins; HTTP Digest for callers with credentials.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { RPC_INVALID_PARAMS, RPC_INVALID_REQUEST, RPC_METHOD_NOT_FOUND, RPC_PARSE_ERROR } from "../errors.js";
import type { RpcAuth } from "../rpc/auth.js";
import type { RequestFrame, ResponseFrame } from "../rpc/frame.js";
import type { CallContext } from "../rpc/registry.js";
import type { RpcServer } from "../rpc/server.js";

/** Channel type of HTTP callers, as ACLs name it. */
export const HTTP_CHANNEL = "HTTP";

export interface HttpRpcOptions {
  server: RpcServer;
  auth: RpcAuth;
  /** Largest body accepted, in bytes; a larger one gets 413. */
  maxBody: number;
}

/** Status of an error object answered in REST mode. */
export function restStatus(code: number): number {
  if (code === 401 || code === 403 || code === 404 || code === 429) return code;
  if (code === RPC_METHOD_NOT_FOUND) return 404;
  if (code === RPC_INVALID_PARAMS || code === RPC_INVALID_REQUEST || code === RPC_PARSE_ERROR) return 400;
  if (code === -32001) return 504;
  return 500;
}

/**
 * A GET query as params, as Mongoose OS builds them: each value is inserted as JSON text, so
 * `?pin=2&on=true` is `{"pin":2,"on":true}`. Better than the original: a value that is not JSON
 * (`?ssid=home`) becomes a string instead of a broken document.
 */
export function queryToParams(search: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of search) {
    try {
      out[k] = JSON.parse(v) as unknown;
    } catch {
      out[k] = v;
    }
  }
  return out;
}

/** The peer address failed logins are counted by: the IP, not the port. */
export function remoteOf(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? "unknown";
}

/** Where an answer goes: the response and the headers gathered for it so far. */
interface Out {
  res: ServerResponse;
  headers: OutgoingHttpHeaders;
  auth: RpcAuth;
}

/** Serves one request whose path is `/rpc` or below. */
export function serveHttpRpc(req: IncomingMessage, res: ServerResponse, o: HttpRpcOptions): void {
  const out: Out = { res, headers: corsHeaders(req), auth: o.auth };
  if (req.method === "OPTIONS") {
    req.resume();
    send(out, 200, "");
    return;
  }
  const raw = req.url ?? "/";
  const q = raw.indexOf("?");
  const method = decodeMethod((q < 0 ? raw : raw.slice(0, q)).replace(/^\/rpc\/?/, ""));
  if (method === undefined) {
    req.resume();
    sendJson(out, 400, {
      code: RPC_INVALID_REQUEST,
      message: "the method in the path is not valid %-encoding",
    });
    return;
  }
  const source = remoteOf(req);
  let user: string | undefined;
  const authorization = req.headers.authorization;
  if (authorization !== undefined && o.auth.enabled) {
    const v = o.auth.verifyHttp(authorization, req.method ?? "GET", raw, source);
    if (v === "stale" || ("code" in v && v.code === 401)) {
      req.resume();
      challenge(out, v === "stale");
      return;
    }
    if ("code" in v) {
      req.resume();
      sendJson(out, restStatus(v.code), v);
      return;
    }
    user = v.user;
  }
  readBody(req, o.maxBody, (body) => {
    if (body === undefined) {
      out.headers.Connection = "close";
      sendJson(out, 413, { code: RPC_INVALID_REQUEST, message: `body exceeds ${o.maxBody} bytes` });
      return;
    }
    const ctx = { channel: HTTP_CHANNEL, peer: source, user };
    if (method !== "") {
      const useQuery = req.method === "GET" && body === "" && q >= 0;
      rest(method, useQuery ? new URLSearchParams(raw.slice(q + 1)) : body, out, o.server, ctx);
    } else if (body.trim() === "" && o.auth.enabled && user === undefined) {
      // curl --digest first sends an empty POST to learn the challenge: give it one.
      challenge(out, false);
    } else fullFrame(body, out, o.server, ctx);
  });
}

/** `POST /rpc`: a whole frame (or batch) in, a whole frame out; 200 even for RPC errors. */
function fullFrame(body: string, out: Out, server: RpcServer, ctx: Omit<CallContext, "frame">): void {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (e) {
    sendJson(out, 400, server.parseError(e instanceof Error ? e.message : String(e)));
    return;
  }
  const state = { answered: false };
  server.handle(value, ctx, (reply) => {
    state.answered = true;
    if (isAuthChallenge(reply)) challenge(out, false);
    else sendJson(out, 200, reply);
  });
  // A notification (or a batch of them) gets no frame back.
  if (!state.answered && !expectsAnswer(value)) send(out, 204, "");
}

/** `/rpc/Method`: params from the body or the query; the result alone, or the error object. */
function rest(
  method: string,
  input: string | URLSearchParams,
  out: Out,
  server: RpcServer,
  ctx: Omit<CallContext, "frame">,
): void {
  let params: unknown;
  if (typeof input !== "string") params = input.size === 0 ? undefined : queryToParams(input);
  else if (input.trim() !== "") {
    try {
      params = JSON.parse(input) as unknown;
    } catch (e) {
      sendJson(out, 400, { code: RPC_PARSE_ERROR, message: `parse error: ${(e as Error).message}` });
      return;
    }
  }
  const frame: RequestFrame = { id: 1, method };
  if (params !== undefined) frame.params = params;
  server.dispatch(frame, true, ctx, (reply) => {
    if (reply === undefined) return;
    if (isAuthChallenge(reply)) challenge(out, false);
    else if (reply.error !== undefined) sendJson(out, restStatus(reply.error.code), reply.error);
    else sendJson(out, 200, reply.result ?? null);
  });
}

/** The method named by `/rpc/<Method>`, %-decoded; undefined when the encoding is broken (`%E0%A4%A`). */
function decodeMethod(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}

/** Whether an answer is the auth layer asking for credentials (the HTTP way is a 401 response). */
function isAuthChallenge(reply: ResponseFrame | ResponseFrame[]): boolean {
  return !Array.isArray(reply) && reply.error?.code === 401;
}

function expectsAnswer(value: unknown): boolean {
  const isRequest = (v: unknown): boolean => typeof v !== "object" || v === null || "id" in v;
  return Array.isArray(value) ? value.length === 0 || value.some(isRequest) : isRequest(value);
}

function challenge(out: Out, stale: boolean): void {
  out.headers["WWW-Authenticate"] = out.auth.httpChallenge(stale);
  sendJson(out, 401, { code: 401, message: "unauthorized" });
}

/** CORS headers, for requests from a page (browsers send `Origin`; curl and mos do not). */
function corsHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const origin = req.headers.origin;
  if (origin === undefined) return {};
  return {
    "Access-Control-Allow-Origin": origin,
    Vary: "Origin",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers":
      req.headers["access-control-request-headers"] ?? "Authorization, Content-Type",
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Expose-Headers": "WWW-Authenticate",
  };
}

/** Reads the body as text; `undefined` when it exceeds `max` (the rest is discarded). */
function readBody(req: IncomingMessage, max: number, done: (body: string | undefined) => void): void {
  const length = req.headers["content-length"];
  if (length === undefined && req.headers["transfer-encoding"] === undefined) {
    // No body (a GET): nothing to wait for.
    req.resume();
    done("");
    return;
  }
  if (Number(length ?? 0) > max) {
    req.resume();
    done(undefined);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on("data", (chunk: Buffer) => {
    if (over) return;
    size += chunk.length;
    if (size > max) {
      over = true;
      done(undefined);
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (!over)
      done(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"));
  });
}

function sendJson(out: Out, status: number, value: unknown): void {
  out.headers["Content-Type"] = "application/json";
  // Mongoose OS ends every body with CRLF; curl users see a tidy prompt.
  send(out, status, JSON.stringify(value) + "\r\n");
}

function send(out: Out, status: number, body: string): void {
  const res = out.res;
  if (res.headersSent || res.destroyed) return;
  out.headers["Content-Length"] = Buffer.byteLength(body);
  res.writeHead(status, out.headers);
  res.end(body);
}
