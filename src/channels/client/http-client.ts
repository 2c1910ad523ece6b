/** `--port http://host:port[/rpc]`: one POST of a whole frame per call, HTTP digest on a 401 (as mos). */
import { CcmError, errorMessage } from "../../errors.js";
import { answerHttpChallenge, type Credentials } from "../../rpc/auth-client.js";
import type { ResponseFrame } from "../../rpc/frame.js";
import { parsePortUrl } from "./port-url.js";
import type { RpcClient } from "./rpc-client.js";

/** A client POSTing frames to `url` (its path defaults to `/rpc`). */
export function connectHttp(
  url: string,
  o: { timeoutMs: number; creds?: Credentials; src: string },
): RpcClient {
  const target = parsePortUrl(url);
  if (target.pathname === "/" || target.pathname === "") target.pathname = "/rpc";
  const uri = target.pathname + target.search;
  let nextId = 1 + Math.floor(Math.random() * 1_000_000);
  let unsolicited = 0;

  const post = async (body: string, timeoutMs: number, authorization?: string): Promise<Response> => {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (authorization !== undefined) headers.Authorization = authorization;
    try {
      return await fetch(target, { method: "POST", body, headers, signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      if (e instanceof Error && e.name === "TimeoutError") {
        throw new CcmError("RPC_TIMEOUT", `no answer from ${target.origin} within ${timeoutMs} ms`);
      }
      throw new CcmError("TRANSPORT_OPEN_FAILED", `cannot reach ${target.origin}: ${errorMessage(e)}`, {
        cause: e,
      });
    }
  };

  return {
    async call(method, params, options = {}) {
      const timeoutMs = options.timeoutMs ?? o.timeoutMs;
      const frame: Record<string, unknown> = { src: o.src, id: nextId++, method };
      if (params !== undefined) frame.params = params;
      const body = JSON.stringify(frame);
      let res = await post(body, timeoutMs);
      const challenge = res.headers.get("www-authenticate");
      if (res.status === 401 && challenge !== null && o.creds !== undefined) {
        const authorization = answerHttpChallenge(challenge, o.creds, "POST", uri);
        if (authorization !== undefined) res = await post(body, timeoutMs, authorization);
      }
      const text = (await res.text()).trim();
      if (res.status === 401) {
        const hint = o.creds === undefined ? ": give --rpc-creds user:pass" : "";
        throw new CcmError("RPC_REMOTE", `unauthorized${hint}`, { rpcCode: 401 });
      }
      if (res.status !== 200)
        throw new CcmError("RPC_REMOTE", text || res.statusText, { rpcCode: res.status });
      let reply: ResponseFrame;
      try {
        reply = JSON.parse(text) as ResponseFrame;
      } catch {
        throw new CcmError("RPC_REMOTE", `not a JSON-RPC frame: ${text.slice(0, 200)}`, { rpcCode: -32700 });
      }
      const err = reply.error;
      if (err !== undefined && err.code !== 0) {
        throw new CcmError("RPC_REMOTE", err.message ?? `error ${err.code}`, {
          rpcCode: err.code,
          data: err.data,
        });
      }
      return reply.result ?? null;
    },
    async notify(method, params) {
      const frame: Record<string, unknown> = { src: o.src, method };
      if (params !== undefined) frame.params = params;
      const res = await post(JSON.stringify(frame), o.timeoutMs);
      const text = (await res.text()).trim();
      if (res.status === 200 && text !== "") unsolicited++;
      if (res.status !== 200 && res.status !== 204)
        throw new CcmError("RPC_REMOTE", `HTTP ${res.status}`, { rpcCode: res.status });
    },
    close: () => Promise.resolve(),
    get unsolicited() {
      return unsolicited;
    },
  };
}
