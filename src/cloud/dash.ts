/**
 * An mDash-style dashboard connection (reference mos-protocols.md §12): one outbound WebSocket to
 * `dash.server` with `Authorization: Bearer <dash.token>`, JSON-RPC 2.0 frames both ways.
 * - On open the CCM calls `Dash.Heartbeat` with its Sys.GetInfo; its answer means "online".
 *   The heartbeat repeats every `dash.heartbeat_s`.
 * - The dashboard calls any method: served by the CCM or forwarded to the host like every RPC.
 * - The shadow: `Dash.Shadow.Update` / `Dash.Shadow.Get` calls; `Shadow.Delta {state}` from the
 *   dashboard is a delta for the host (answered `true`).
 * Reconnects with jittered backoff; calls made while it is down fail at once (LINK_DOWN).
 */
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import WebSocket from "ws";
import { CcmError, errorMessage } from "../errors.js";
import type { Logger } from "../log/logger.js";
import type { ResponseFrame } from "../rpc/frame.js";
import type { RpcServer } from "../rpc/server.js";
import { rejected, type ShadowBackend, type ShadowBackendEvents } from "../shadow/backend.js";
import type { JsonObject } from "../shadow/document.js";
import { Backoff } from "../util/backoff.js";

/** Channel type of dashboard callers, as ACLs name it (Mongoose OS's outbound WebSocket). */
export const DASH_CHANNEL = "WS_out";

export interface DashOptions {
  url: string;
  token: string;
  deviceId: string;
  server: RpcServer;
  /** What the heartbeat carries: Sys.GetInfo. */
  info: () => unknown;
  logger: Logger;
  heartbeatMs?: number;
  /** PEM file of the CA(s) the dashboard's certificate must chain to (wss://); empty: system roots. */
  ca?: string;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  timeoutMs?: number;
}

export interface DashEvents {
  up: [];
  down: [reason: string];
  delta: [state: JsonObject, version: number];
}

interface Pending {
  resolve: (r: ResponseFrame) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The CCM's connection to its dashboard. */
export class DashConnection extends EventEmitter<DashEvents> {
  /** Whether the dashboard answered the last heartbeat on this connection. */
  online = false;
  lastError = "";
  private ws: WebSocket | undefined;
  private readonly o: DashOptions;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stopped = true;
  private retry: NodeJS.Timeout | undefined;
  private beat: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;

  constructor(o: DashOptions) {
    super();
    this.o = o;
    this.backoff = new Backoff(o.reconnectMinMs ?? 1000, o.reconnectMaxMs ?? 60_000);
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.beat);
    this.failPending("the dashboard connection stopped");
    const ws = this.ws;
    this.ws = undefined;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once("close", () => {
        resolve();
      });
      ws.terminate();
    });
  }

  /** Calls a dashboard method; rejects with the dashboard's error, LINK_DOWN or RPC_TIMEOUT. */
  async call(method: string, params?: unknown): Promise<unknown> {
    const ws = this.ws;
    if (ws?.readyState !== WebSocket.OPEN) throw new CcmError("LINK_DOWN", "the dashboard is not connected");
    const id = this.nextId++;
    const timeoutMs = this.o.timeoutMs ?? 10_000;
    const reply = await new Promise<ResponseFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new CcmError("RPC_TIMEOUT", `no answer to ${method} from the dashboard within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      const frame: Record<string, unknown> = { jsonrpc: "2.0", id, src: this.o.deviceId, method };
      if (params !== undefined) frame.params = params;
      ws.send(JSON.stringify(frame));
    });
    if (reply.error !== undefined && reply.error.code !== 0)
      throw new CcmError("RPC_REMOTE", `dashboard: ${reply.error.message}`, { rpcCode: reply.error.code });
    return reply.result;
  }

  private connect(): void {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.o.token}` };
    const options: WebSocket.ClientOptions = { headers, handshakeTimeout: 10_000 };
    if (this.o.ca !== undefined && this.o.ca !== "") options.ca = readFileSync(this.o.ca);
    const ws = new WebSocket(this.o.url, options);
    this.ws = ws;
    ws.on("open", () => {
      this.backoff.reset();
      this.lastError = "";
      this.o.logger.info(`dashboard ${this.o.url} connected`);
      this.heartbeat();
      clearInterval(this.beat);
      this.beat = setInterval(() => {
        this.heartbeat();
      }, this.o.heartbeatMs ?? 60_000);
    });
    ws.on("unexpected-response", (_req, res) => {
      this.lastError = `the dashboard refused the connection: HTTP ${res.statusCode ?? "?"}${res.statusCode === 401 ? " (check dash.token)" : ""}`;
      this.o.logger.warn(this.lastError);
      ws.terminate();
    });
    ws.on("message", (data: Buffer) => {
      this.receive(data.toString());
    });
    ws.on("error", (e) => {
      if (this.lastError === "") this.lastError = errorMessage(e);
      this.o.logger.debug(`dashboard: ${errorMessage(e)}`);
    });
    ws.on("close", () => {
      clearInterval(this.beat);
      this.failPending("the dashboard connection closed");
      const wasOnline = this.online;
      this.online = false;
      if (wasOnline) this.emit("down", "closed");
      if (this.ws === ws) this.ws = undefined;
      if (this.stopped) return;
      const delay = this.backoff.next();
      this.retry = setTimeout(() => {
        if (!this.stopped) this.connect();
      }, delay);
    });
  }

  private heartbeat(): void {
    Promise.resolve()
      .then(() => this.o.info())
      .then((info) => this.call("Dash.Heartbeat", info))
      .then(
        () => {
          if (this.online) return;
          this.online = true;
          this.emit("up");
        },
        (e: unknown) => {
          this.o.logger.debug(`heartbeat: ${errorMessage(e)}`);
        },
      );
  }

  private failPending(why: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new CcmError("LINK_DOWN", why));
      this.pending.delete(id);
    }
  }

  private send(frame: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private receive(text: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text.trim());
    } catch {
      this.send(this.o.server.parseError("not JSON"));
      return;
    }
    if (isObject(value) && typeof value.method !== "string" && ("result" in value || "error" in value)) {
      const id = typeof value.id === "number" ? value.id : Number(value.id);
      const p = this.pending.get(id);
      if (p === undefined) return;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.resolve(value as unknown as ResponseFrame);
      return;
    }
    if (isObject(value) && value.method === "Shadow.Delta") {
      const params = isObject(value.params) ? value.params : {};
      const state = isObject(params.state) ? params.state : params;
      const version = typeof params.version === "number" ? params.version : 0;
      this.emit("delta", state, version);
      if ("id" in value) this.send({ jsonrpc: "2.0", id: value.id, src: this.o.deviceId, result: true });
      return;
    }
    this.o.server.handle(value, { channel: DASH_CHANNEL, peer: "dash" }, (reply) => {
      this.send(reply);
    });
  }
}

/** The shadow kept by the dashboard. */
export class DashShadow extends EventEmitter<ShadowBackendEvents> implements ShadowBackend {
  readonly kind = "dash";
  private readonly dash: DashConnection;
  private readonly onDelta = (state: JsonObject, version: number): void => {
    this.emit("delta", state, version);
  };
  private readonly onUp = (): void => {
    this.pendingDelta().then(
      (delta) => {
        if (delta !== undefined) this.emit("delta", delta, 0);
      },
      () => undefined,
    );
  };

  constructor(dash: DashConnection) {
    super();
    this.dash = dash;
  }

  start(): void {
    this.dash.on("delta", this.onDelta);
    this.dash.on("up", this.onUp);
  }

  stop(): void {
    this.dash.off("delta", this.onDelta);
    this.dash.off("up", this.onUp);
  }

  async update(request: JsonObject): Promise<JsonObject> {
    try {
      const r = await this.dash.call("Dash.Shadow.Update", request);
      return isObject(r) ? r : { state: request.state ?? {} };
    } catch (e) {
      if (e instanceof CcmError && e.code === "RPC_REMOTE")
        throw rejected({ code: e.rpcCode, message: e.message });
      throw e;
    }
  }

  async get(): Promise<JsonObject> {
    const r = await this.dash.call("Dash.Shadow.Get");
    if (!isObject(r)) throw rejected({ code: 500, message: "Dash.Shadow.Get: not a document" });
    return r;
  }

  async pendingDelta(): Promise<JsonObject | undefined> {
    const doc = await this.get();
    const state = doc.state;
    return isObject(state) && isObject(state.delta) ? state.delta : undefined;
  }
}
