/**
 * A local mDash-style dashboard for tests and offline development (reference mos-protocols.md §12):
 * devices connect by WebSocket to `/api/v2/rpc` with `Authorization: Bearer <token>` (401 without
 * a known token); `Dash.Heartbeat` marks a device online with its info; `Dash.Shadow.Update` /
 * `Dash.Shadow.Get` keep a shadow with AWS semantics (mDash's is "semantically identical"); a
 * desired change is sent to the device as `Shadow.Delta {state, version}`; `call` reaches any
 * device method as mDash's `POST /devices/:id/rpc/:method` does.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import {
  applyUpdate,
  emptyShadow,
  getDocument,
  type JsonObject,
  type ShadowDocument,
} from "../shadow/document.js";

interface Device {
  id: string;
  ws?: WebSocket | undefined;
  info?: unknown;
  shadow: ShadowDocument;
  heartbeats: number;
}

interface Pending {
  resolve: (v: { result?: unknown; error?: { code: number; message: string } }) => void;
  timer: NodeJS.Timeout;
}

const LIMITS = { maxBytes: 8192, maxDepth: 6 };

/** A running dashboard. */
export class DashServerSim {
  port = 0;
  /** Frames received, in order (for tests). */
  readonly frames: unknown[] = [];
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly devices = new Map<string, Device>();
  private readonly byToken = new Map<string, string>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** While true, connections are refused with 503 (a dashboard that is down). */
  refusing = false;

  private constructor(tokens: Record<string, string>) {
    for (const [token, id] of Object.entries(tokens)) {
      this.byToken.set(token, id);
      this.devices.set(id, { id, shadow: emptyShadow(), heartbeats: 0 });
    }
    this.http = createServer((_req, res) => {
      res.writeHead(404).end();
    });
    this.wss = new WebSocketServer({ noServer: true });
    this.http.on("upgrade", (req, socket, head) => {
      if (this.refusing) {
        socket.end("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      const auth = req.headers.authorization ?? "";
      const id = this.byToken.get(auth.replace(/^Bearer\s+/i, ""));
      if (req.url !== "/api/v2/rpc" || id === undefined) {
        socket.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.attach(this.devices.get(id)!, ws);
      });
    });
  }

  /** Starts a dashboard on 127.0.0.1 knowing `tokens` (token → device id). */
  static async start(tokens: Record<string, string>): Promise<DashServerSim> {
    const d = new DashServerSim(tokens);
    await new Promise<void>((resolve) => d.http.listen(0, "127.0.0.1", resolve));
    d.port = (d.http.address() as AddressInfo).port;
    return d;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/api/v2/rpc`;
  }

  online(id: string): boolean {
    const d = this.devices.get(id);
    return d?.ws !== undefined && d.heartbeats > 0;
  }

  info(id: string): unknown {
    return this.devices.get(id)?.info;
  }

  /** The device's shadow as `Dash.Shadow.Get` answers it. */
  shadow(id: string): JsonObject {
    return getDocument(this.device(id).shadow, Math.floor(Date.now() / 1000));
  }

  /** Sets desired state, as `POST /devices/:id {"shadow":{"state":{"desired":…}}}`; sends the delta. */
  setDesired(id: string, desired: JsonObject): void {
    this.update(this.device(id), { state: { desired } });
  }

  /** Calls a device method and resolves with its result or error. */
  call(
    id: string,
    method: string,
    params?: unknown,
    timeoutMs = 10_000,
  ): Promise<{ result?: unknown; error?: { code: number; message: string } }> {
    const ws = this.device(id).ws;
    if (ws === undefined) return Promise.resolve({ error: { code: 404, message: "device is offline" } });
    const rid = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        resolve({ error: { code: 504, message: "timeout" } });
      }, timeoutMs);
      this.pending.set(rid, { resolve, timer });
      ws.send(JSON.stringify({ id: rid, src: "dash", method, ...(params === undefined ? {} : { params }) }));
    });
  }

  /** Drops every device connection (a dashboard restart). */
  dropAll(): void {
    for (const d of this.devices.values()) d.ws?.terminate();
  }

  async close(): Promise<void> {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.dropAll();
    this.wss.close();
    await new Promise<void>((resolve) =>
      this.http.close(() => {
        resolve();
      }),
    );
  }

  private device(id: string): Device {
    const d = this.devices.get(id);
    if (d === undefined) throw new Error(`no device ${id}`);
    return d;
  }

  private attach(d: Device, ws: WebSocket): void {
    d.ws?.terminate();
    d.ws = ws;
    d.heartbeats = 0;
    ws.on("close", () => {
      if (d.ws === ws) d.ws = undefined;
    });
    ws.on("message", (data: Buffer) => {
      let f: {
        id?: number | string;
        method?: string;
        params?: unknown;
        result?: unknown;
        error?: { code: number; message: string };
      };
      try {
        f = JSON.parse(data.toString()) as typeof f;
      } catch {
        return;
      }
      this.frames.push(f);
      if (f.method === undefined) {
        const p = this.pending.get(Number(f.id));
        if (p === undefined) return;
        this.pending.delete(Number(f.id));
        clearTimeout(p.timer);
        p.resolve(f.error === undefined ? { result: f.result } : { error: f.error });
        return;
      }
      const answer = (r: { result?: unknown; error?: { code: number; message: string } }): void => {
        if (f.id !== undefined) ws.send(JSON.stringify({ id: f.id, src: "dash", ...r }));
      };
      switch (f.method) {
        case "Dash.Heartbeat":
          d.info = f.params;
          d.heartbeats++;
          answer({ result: true });
          return;
        case "Dash.Shadow.Get":
          answer({ result: this.shadow(d.id) });
          return;
        case "Dash.Shadow.Update": {
          const r = this.update(d, f.params);
          answer(r.ok ? { result: r.accepted } : { error: r.error });
          return;
        }
        default:
          answer({ error: { code: -32601, message: `method not found: ${f.method}` } });
      }
    });
  }

  private update(
    d: Device,
    params: unknown,
  ): { ok: true; accepted: JsonObject } | { ok: false; error: { code: number; message: string } } {
    const out = applyUpdate(d.shadow, JSON.stringify(params ?? null), Math.floor(Date.now() / 1000), LIMITS);
    if (!out.ok) return { ok: false, error: { code: out.error.code, message: out.error.message } };
    d.shadow = out.doc;
    const delta = out.result.delta;
    if (delta !== undefined && d.ws !== undefined)
      d.ws.send(
        JSON.stringify({
          id: this.nextId++,
          src: "dash",
          method: "Shadow.Delta",
          params: { state: delta.state, version: delta.version },
        }),
      );
    return { ok: true, accepted: out.result.accepted };
  }
}
