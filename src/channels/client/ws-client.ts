/** `--port ws://host:port/rpc`: JSON-RPC frames as WebSocket text messages, as mos talks to a device. */
import WebSocket from "ws";
import { CcmError, errorMessage } from "../../errors.js";
import type { Credentials } from "../../rpc/auth-client.js";
import { RpcPeer } from "../../rpc/peer.js";
import { parsePortUrl } from "./port-url.js";
import { callWithFrameAuth, type RpcClient } from "./rpc-client.js";

/** Opens a WebSocket to `url` (subprotocol `clubby.cesanta.com`, as mos offers). */
export async function connectWs(
  url: string,
  o: { timeoutMs: number; creds?: Credentials; src: string },
): Promise<RpcClient> {
  parsePortUrl(url);
  const ws = new WebSocket(url, ["clubby.cesanta.com"], { handshakeTimeout: o.timeoutMs });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", (e) => {
      reject(
        new CcmError("TRANSPORT_OPEN_FAILED", `cannot connect to ${url}: ${errorMessage(e)}`, { cause: e }),
      );
    });
    ws.once("unexpected-response", (_req, res) => {
      reject(new CcmError("TRANSPORT_OPEN_FAILED", `cannot connect to ${url}: HTTP ${res.statusCode ?? 0}`));
    });
  });
  let unsolicited = 0;
  const peer = new RpcPeer({
    send: (frame) => {
      if (ws.readyState !== WebSocket.OPEN) throw new CcmError("LINK_DOWN", `${url} is closed`);
      ws.send(JSON.stringify(frame));
    },
    timeoutMs: o.timeoutMs,
    jsonrpcMember: false,
    onProblem: (problem) => {
      if (problem === "unmatched-response") unsolicited++;
    },
  });
  ws.on("message", (data: Buffer) => {
    peer.receiveText(data.toString("utf8"));
  });
  ws.on("close", (code, reason) => {
    peer.close(`${url} closed (${code}${reason.length > 0 ? ` ${reason.toString()}` : ""})`);
  });
  ws.on("error", () => undefined);
  return {
    call: (method, params, options = {}) =>
      callWithFrameAuth(peer, method, params, { ...options, envelope: { src: o.src } }, o.creds),
    notify: (method, params) => {
      peer.notify(method, params, { src: o.src });
      return Promise.resolve();
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) {
          resolve();
          return;
        }
        ws.once("close", () => {
          resolve();
        });
        ws.close();
      }),
    get unsolicited() {
      return unsolicited;
    },
  };
}
