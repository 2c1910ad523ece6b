/**
 * Remote RPC throughput, each figure beside a baseline measured in the same run:
 *
 *   http       `GET /rpc/Sys.GetInfo` requests/s under autocannon (its own process, 32 connections)
 *              against the CCM, and against a bare `node:http` server sending the same body: the
 *              ceiling for any Node HTTP server on this machine. Target: ccm ≥ 60 % of it.
 *   ws         WebSocket calls/s (32 calls in flight on one connection) to a method the CCM serves
 *              (RPC.Ping), beside a bare `ws` server that parses each message and answers.
 *   forwarded  WebSocket calls/s of `Sum`, which the CCM forwards to the simulated host over a socat
 *              pty pair, beside the same connection's calls/s to the CCM's own RPC.Ping.
 *
 * Servers run in child processes (bench/remote-rpc-server.ts); rounds alternate the contenders.
 * Environment: BENCH_REMOTE_SECONDS (3 per measurement), BENCH_REMOTE_ROUNDS (3).
 */
import { execFile, type ChildProcess } from "node:child_process";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { ensureBuild, REPO_ROOT, BUILD_ENV } from "./ccm-build.js";
import { envNumber, fmtInt, forkUntilReady, isEntryPoint, median, report, type BenchResult } from "./util.js";

const SECONDS = envNumber("BENCH_REMOTE_SECONDS", 3);
const ROUNDS = envNumber("BENCH_REMOTE_ROUNDS", 3);
const HTTP_TARGET = 0.6;
const WINDOW = 32;

interface Server {
  port: number;
  child: ChildProcess;
}

/** The server process's CPU time so far, in ms. */
function cpuOf(s: Server): Promise<number> {
  return new Promise((resolve) => {
    s.child.once("message", (m) => {
      resolve((m as { cpuMs: number }).cpuMs);
    });
    s.child.send("cpu");
  });
}

/** Requests/s from autocannon, and the server's CPU time per request (µs). */
async function measureHttp(
  s: Server,
  url: string,
): Promise<{ rps: number; bad: number; p99: number; cpuUs: number; n: number }> {
  const c0 = await cpuOf(s);
  const r = await autocannon(url);
  const c1 = await cpuOf(s);
  return { ...r, cpuUs: ((c1 - c0) * 1000) / r.n };
}

async function startServer(mode: string, env: NodeJS.ProcessEnv, body = ""): Promise<Server> {
  const script = new URL("./remote-rpc-server.ts", import.meta.url);
  const { message, child } = await forkUntilReady(script, [mode, body], env, `${mode} server`);
  return { port: (message as { port: number }).port, child };
}

/** autocannon in its own process; requests/s and how many answers were not 2xx. */
function autocannon(url: string): Promise<{ rps: number; bad: number; p99: number; n: number }> {
  const bin = fileURLToPath(new URL("../node_modules/autocannon/autocannon.js", import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [bin, "-c", "32", "-d", String(SECONDS), "-j", url],
      { cwd: REPO_ROOT, timeout: (SECONDS + 30) * 1000, maxBuffer: 1 << 24 },
      (err, stdout) => {
        if (err !== null) {
          reject(new Error(`autocannon failed: ${err.message}`));
          return;
        }
        const r = JSON.parse(stdout) as {
          requests: { average: number; total: number };
          latency: { p99: number };
          non2xx: number;
          errors: number;
        };
        resolve({
          rps: r.requests.average,
          bad: r.non2xx + r.errors,
          p99: r.latency.p99,
          n: r.requests.total,
        });
      },
    );
  });
}

/** Calls/s over one WebSocket with WINDOW calls in flight; every answer is checked. */
async function wsLoad(
  url: string,
  method: string,
  check: (result: unknown, i: number) => boolean,
): Promise<number> {
  const ws = new WebSocket(url);
  await new Promise((r, j) => {
    ws.once("open", r);
    ws.once("error", j);
  });
  let next = 1;
  let done = 0;
  let wrong = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  const send = (): void => {
    const id = next++;
    ws.send(JSON.stringify({ id, src: "bench", method, params: [id, 1] }));
  };
  await new Promise<void>((resolve) => {
    ws.on("message", (d: Buffer) => {
      const f = JSON.parse(d.toString()) as { id: number; result: unknown };
      if (!check(f.result, f.id)) wrong++;
      done++;
      if (performance.now() < deadline) send();
      else if (done === next - 1) resolve();
    });
    for (let i = 0; i < WINDOW; i++) send();
  });
  const elapsed = (performance.now() - t0) / 1000;
  ws.close();
  if (wrong > 0) throw new Error(`${method}: ${wrong} wrong answers`);
  return done / elapsed;
}

async function main(): Promise<BenchResult> {
  const build = await ensureBuild();
  const env = { ...process.env, ...(build.root === undefined ? {} : { [BUILD_ENV]: build.root }) };
  const load0 = loadavg()[0] ?? 0;
  const ccm = await startServer("ccm", env);
  const servers = [ccm];
  try {
    const base = `http://127.0.0.1:${ccm.port}`;
    const body = (await (await fetch(`${base}/rpc/Sys.GetInfo`)).text()).trimEnd();
    const bareHttp = await startServer("bare-http", env, body);
    const bareWs = await startServer("bare-ws", env);
    servers.push(bareHttp, bareWs);
    const wsUrl = `ws://127.0.0.1:${ccm.port}/rpc`;
    const bareWsUrl = `ws://127.0.0.1:${bareWs.port}/`;
    const sum = (r: unknown, i: number): boolean => r === i + 1;
    const any = (): boolean => true;

    const http = {
      ccm: [] as number[],
      bare: [] as number[],
      p99: [] as number[],
      ccmCpu: [] as number[],
      bareCpu: [] as number[],
    };
    const ws = { ccm: [] as number[], bare: [] as number[], fwd: [] as number[] };
    let bad = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const a = await measureHttp(ccm, `${base}/rpc/Sys.GetInfo`);
      const b = await measureHttp(bareHttp, `http://127.0.0.1:${bareHttp.port}/`);
      http.ccmCpu.push(a.cpuUs);
      http.bareCpu.push(b.cpuUs);
      http.ccm.push(a.rps);
      http.p99.push(a.p99);
      http.bare.push(b.rps);
      bad += a.bad + b.bad;
      ws.ccm.push(await wsLoad(wsUrl, "RPC.Ping", any));
      ws.bare.push(await wsLoad(bareWsUrl, "Sum", sum));
      ws.fwd.push(await wsLoad(wsUrl, "Sum", sum));
      console.log(
        `round ${round + 1}: http ccm ${fmtInt(a.rps)}/s bare ${fmtInt(b.rps)}/s · ws ccm ${fmtInt(ws.ccm.at(-1) ?? 0)}/s bare ${fmtInt(ws.bare.at(-1) ?? 0)}/s forwarded ${fmtInt(ws.fwd.at(-1) ?? 0)}/s`,
      );
    }
    if (bad > 0) throw new Error(`${bad} HTTP requests failed or were not 2xx`);
    const ratio = median(http.ccm) / median(http.bare);
    const perRound = http.ccm.map((c, i) => c / (http.bare[i] ?? 1));
    const spread = Math.max(...perRound) / Math.min(...perRound);
    return {
      name: "remote-rpc",
      rows: [
        { metric: "HTTP GET /rpc/Sys.GetInfo req/s (median)", value: fmtInt(median(http.ccm)) },
        { metric: "bare node:http req/s, same body (median)", value: fmtInt(median(http.bare)) },
        {
          metric: "ccm HTTP / bare node:http",
          value: `${ratio.toFixed(2)} (per round ${Math.min(...perRound).toFixed(2)}–${Math.max(...perRound).toFixed(2)})`,
          target: `≥ ${HTTP_TARGET}`,
          met: ratio >= HTTP_TARGET,
          unstable: spread > 1.3,
        },
        {
          metric: "ccm HTTP latency p99 at 32 connections (median)",
          value: `${median(http.p99).toFixed(1)} ms`,
        },
        {
          metric: "server CPU per request: ccm / bare node:http",
          value: `${median(http.ccmCpu).toFixed(1)} µs / ${median(http.bareCpu).toFixed(1)} µs (ccm at ${(median(http.bareCpu) / median(http.ccmCpu)).toFixed(2)} of bare's efficiency)`,
        },
        { metric: "WebSocket calls/s, RPC.Ping served by the CCM", value: fmtInt(median(ws.ccm)) },
        { metric: "bare ws server calls/s (parse + answer)", value: fmtInt(median(ws.bare)) },
        { metric: "ccm WebSocket / bare ws", value: (median(ws.ccm) / median(ws.bare)).toFixed(2) },
        { metric: "WebSocket calls/s forwarded to the host over a pty (Sum)", value: fmtInt(median(ws.fwd)) },
        { metric: "forwarded / served by the CCM", value: (median(ws.fwd) / median(ws.ccm)).toFixed(2) },
      ],
      notes: [
        `remote-rpc: ${ROUNDS} rounds × ${SECONDS} s per contender, alternating; load average ${load0.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)}; ${WINDOW} WebSocket calls in flight`,
      ],
    };
  } finally {
    for (const s of servers) s.child.kill("SIGTERM");
    await build.cleanup();
  }
}

if (isEntryPoint(import.meta.url)) await report(await main());
