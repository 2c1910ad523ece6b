/**
 * The server side of bench/remote-rpc.ts, run in its own process so that the load generator and
 * the server do not share a core's event loop:
 *
 *   ccm        a Daemon (the build under test) with a HostSimulator on a socat pty pair, HTTP and
 *              WebSocket RPC on 127.0.0.1, a free port
 *   bare-http  node:http answering every request with a fixed JSON body of Sys.GetInfo's size
 *   bare-ws    a `ws` server answering every message with `{"id":…,"result":…}` (parse + stringify)
 *
 * Sends `{ port }` over IPC when ready, then `{ cpuMs }` whenever asked; runs until killed.
 */
import { createServer } from "node:http";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocketServer } from "ws";
import { ptyPair } from "../test/helpers/socat.js";
import { importCcm } from "./ccm-build.js";

type DaemonModule = typeof import("../src/daemon/daemon.js");
type ConfigModule = typeof import("../src/config/load.js");
type SimModule = typeof import("../src/sim/host-simulator.js");

async function ccm(): Promise<number> {
  const { Daemon } = await importCcm<DaemonModule>("daemon/daemon");
  const { loadConfig } = await importCcm<ConfigModule>("config/load");
  const { HostSimulator } = await importCcm<SimModule>("sim/host-simulator");
  const pty = await ptyPair();
  process.once("exit", () => {
    void pty.kill();
  });
  const sim = new HostSimulator({ port: pty.b });
  await sim.start();
  const config = loadConfig({
    overrides: {
      device: { id: "ccm_bench" },
      host: { port: pty.a, ping_ms: 0 },
      rpc: { http: { listen: "127.0.0.1:0" } },
      debug: { level: 0 },
    },
  });
  const daemon = new Daemon({ config, dataDir: await mkdtemp(join(tmpdir(), "ccm-bench-data-")) });
  await daemon.start();
  await new Promise<void>((resolve) => {
    if (daemon.host.state === "ready") resolve();
    else
      daemon.host.once("ready", () => {
        resolve();
      });
  });
  return Number(new URL(daemon.httpUrl ?? "").port);
}

function bareHttp(body: string): Promise<number> {
  const server = createServer((_req, res) => {
    res.setHeader("Content-Type", "application/json");
    res.setHeader("Content-Length", Buffer.byteLength(body));
    res.end(body);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve((server.address() as { port: number }).port);
    });
  });
}

function bareWs(): Promise<number> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  wss.on("connection", (ws) => {
    ws.on("message", (data: Buffer) => {
      const f = JSON.parse(data.toString()) as { id: number; params: [number, number] };
      ws.send(JSON.stringify({ id: f.id, src: "bare", result: f.params[0] + f.params[1] }));
    });
  });
  return new Promise((resolve) => {
    wss.on("listening", () => {
      resolve((wss.address() as { port: number }).port);
    });
  });
}

// Killed with SIGTERM by the bench: exit normally so that exit handlers remove the socat cable.
process.once("SIGTERM", () => process.exit(0));

const mode = process.argv[2];
const body = process.argv[3] ?? "{}";
const port = mode === "ccm" ? await ccm() : mode === "bare-http" ? await bareHttp(body) : await bareWs();
process.send?.({ port });
// The parent asks for this process's CPU time around each measurement: CPU per request is a figure
// that other work on the machine hardly changes, unlike requests per second.
process.on("message", () => {
  const u = process.cpuUsage();
  process.send?.({ cpuMs: (u.user + u.system) / 1000 });
});
