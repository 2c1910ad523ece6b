/**
 * The WebSocket RPC channel (reference mos-protocols.md §3): one frame per message on `/rpc`, the
 * caller's subprotocol echoed (mos offers `clubby.cesanta.com`, devices `json-rpc`), HTTP Digest
 * on the upgrade request authenticating the whole connection.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { RpcAuth } from "../rpc/auth.js";
import { encodeFrame } from "../rpc/frame.js";
import { RpcPeer } from "../rpc/peer.js";
import type { RpcServer } from "../rpc/server.js";
import { remoteOf } from "./http-rpc.js";

/** Channel type of WebSocket callers, as ACLs name it. */
export const WS_CHANNEL = "WS_in";

export interface WsRpcOptions {
  server: RpcServer;
  auth: RpcAuth;
  /** Largest message accepted; a larger one closes the connection with 1009. */
  maxMessage: number;
  /** Replies queued to a client that does not read, before it is dropped: 1 MiB. */
  maxBuffered?: number;
  /** Timeout of calls the CCM makes to a client: 10 s. */
  timeoutMs?: number;
}

/** Accepts WebSocket upgrades and serves RPC on each connection. */
export class WsRpcChannel {
  private readonly wss: WebSocketServer;
  private readonly options: WsRpcOptions;

  constructor(options: WsRpcOptions) {
    this.options = options;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessage,
      // Mongoose echoes whatever the caller offered; so do we (its first choice).
      handleProtocols: (protocols) => protocols.values().next().value ?? false,
    });
  }

  /** Connections open now. */
  get clients(): number {
    return this.wss.clients.size;
  }

  /** Takes over an upgrade request for `/rpc`; refuses it with 401 when its credentials are wrong. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const source = remoteOf(req);
    let user: string | undefined;
    const authorization = req.headers.authorization;
    if (authorization !== undefined && this.options.auth.enabled) {
      const v = this.options.auth.verifyHttp(authorization, "GET", req.url ?? "/rpc", source);
      if (v === "stale" || "code" in v) {
        const stale = v === "stale";
        refuse(
          socket,
          stale || v.code === 401 ? 401 : v.code,
          stale || v.code === 401 ? { "WWW-Authenticate": this.options.auth.httpChallenge(stale) } : {},
        );
        return;
      }
      user = v.user;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.serve(ws, source, user);
    });
  }

  /** Closes every connection. */
  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }

  private serve(ws: WebSocket, source: string, user: string | undefined): void {
    const maxBuffered = this.options.maxBuffered ?? 1 << 20;
    const peer = new RpcPeer({
      send: (frame) => {
        if (ws.readyState !== ws.OPEN) return;
        // A client that stopped reading must not make the CCM hold its replies forever.
        if (ws.bufferedAmount > maxBuffered) {
          ws.close(1008, "not reading replies");
          return;
        }
        ws.send(encodeFrame(frame));
      },
      server: this.options.server,
      context: { channel: WS_CHANNEL, peer: source, user },
      timeoutMs: this.options.timeoutMs ?? 10_000,
      jsonrpcMember: false,
    });
    ws.on("message", (data: Buffer) => {
      peer.receiveText(data.toString("utf8"));
    });
    ws.on("close", () => {
      peer.close("WebSocket closed");
    });
    ws.on("error", () => undefined);
  }
}

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
export function refuse(socket: Duplex, status: number, headers: Record<string, string> = {}): void {
  const reason = {
    401: "Unauthorized",
    403: "Forbidden",
    429: "Too Many Requests",
    503: "Service Unavailable",
  }[status];
  const body = status === 503 ? "WS is disabled" : "";
  const lines = [
    `HTTP/1.1 ${status} ${reason ?? "Bad Request"}`,
    "Connection: close",
    `Content-Length: ${body.length}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${lines.join("\r\n")}\r\n\r\n${body}`);
}
