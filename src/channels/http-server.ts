/**
 * The CCM's HTTP server: RPC on `/rpc` (HTTP and WebSocket) and any other routes services add
 * (the provisioning page). Bounded: body and message sizes, header and request timeouts, so a slow
 * or stalled client holds its own socket and nothing else.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CcmError, errorMessage } from "../errors.js";
import type { RpcAuth } from "../rpc/auth.js";
import type { RpcServer } from "../rpc/server.js";
import { serveHttpRpc } from "./http-rpc.js";
import { WsRpcChannel, refuse } from "./ws-rpc.js";

export interface HttpServerOptions {
  /** `HOST:PORT`, `:PORT` or `PORT`; port 0 picks a free one. */
  listen: string;
  server: RpcServer;
  auth: RpcAuth;
  /** Largest HTTP body or WebSocket message, in bytes. */
  maxFrame: number;
  /** Serve WebSocket RPC on `/rpc` (otherwise upgrades get 503 "WS is disabled", as Mongoose OS). */
  ws: boolean;
  /** How long a client may take to send its request: 30 s. */
  requestTimeoutMs?: number;
}

export type Route = (req: IncomingMessage, res: ServerResponse) => void;

/** Parses `HOST:PORT`, `[v6]:PORT`, `:PORT` or `PORT`. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*))?:?(\d+)$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (m === null || !Number.isInteger(port) || port > 65535) {
    throw new CcmError("CONFIG_INVALID", `"${text}" is not HOST:PORT`);
  }
  return { host: m[1] ?? (m[2] === undefined || m[2] === "" ? "0.0.0.0" : m[2]), port };
}

/** An HTTP server serving RPC, started with `listen()`. */
export class CcmHttpServer {
  readonly ws: WsRpcChannel;
  private readonly http: Server;
  private readonly options: HttpServerOptions;
  private readonly routes = new Map<string, Route>();

  constructor(options: HttpServerOptions) {
    this.options = options;
    this.ws = new WsRpcChannel({ server: options.server, auth: options.auth, maxMessage: options.maxFrame });
    this.http = createServer((req, res) => {
      this.request(req, res);
    });
    this.http.requestTimeout = options.requestTimeoutMs ?? 30_000;
    this.http.headersTimeout = Math.min(this.http.requestTimeout, 10_000);
    this.http.on("upgrade", (req: IncomingMessage, socket, head: Buffer) => {
      socket.on("error", () => undefined);
      if (!isRpcPath(req.url)) refuse(socket, 404);
      else if (!options.ws) refuse(socket, 503);
      else this.ws.upgrade(req, socket, head);
    });
    this.http.on("clientError", (_e, socket) => {
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    });
  }

  /** Serves `path` with `route`: exactly, or every path below it when it ends with `/` (but `/` is the root alone). */
  addRoute(path: string, route: Route): void {
    this.routes.set(path, route);
  }

  /** Starts listening; resolves with the bound address. Rejects naming the address when it is taken. */
  listen(): Promise<AddressInfo> {
    const { host, port } = parseListen(this.options.listen);
    return new Promise((resolve, reject) => {
      const onError = (e: Error): void => {
        reject(new CcmError("TRANSPORT_OPEN_FAILED", `cannot listen on ${host}:${port}: ${errorMessage(e)}`));
      };
      this.http.once("error", onError);
      this.http.listen(port, host, () => {
        this.http.off("error", onError);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  /** The bound address, once listening. */
  get address(): AddressInfo | undefined {
    const a = this.http.address();
    return a === null || typeof a === "string" ? undefined : a;
  }

  /** Stops accepting, drops every connection (HTTP keep-alive and WebSocket) and resolves when closed. */
  close(): Promise<void> {
    this.ws.close();
    return new Promise((resolve) => {
      if (!this.http.listening) {
        resolve();
        return;
      }
      this.http.close(() => {
        resolve();
      });
      this.http.closeAllConnections();
    });
  }

  private request(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (isRpcPath(path)) {
      serveHttpRpc(req, res, {
        server: this.options.server,
        auth: this.options.auth,
        maxBody: this.options.maxFrame,
      });
      return;
    }
    for (const [prefix, route] of this.routes) {
      if (path === prefix || (prefix.length > 1 && prefix.endsWith("/") && path.startsWith(prefix))) {
        route(req, res);
        return;
      }
    }
    res.statusCode = 404;
    res.setHeader("Content-Type", "text/plain");
    res.end("not found\n");
  }
}

function isRpcPath(url: string | undefined): boolean {
  const path = (url ?? "").split("?")[0] ?? "";
  return path === "/rpc" || path.startsWith("/rpc/");
}
