/**
 * The host's MQTT services and the shadow under load, on Mosquitto, with the CCM as users run it
 * (`ccm start`, its own process, the build under test, no TypeScript loader) on one end of a socat
 * pty pair and this process playing the host on the other end (raw frames, no simulator).
 *
 *   up       host → broker: N `MQTT.Pub` notifications written to the pty as fast as it drains,
 *            counted at an mqtt.js subscriber (QoS 0 and QoS 1). Baseline: what a 1 Mbaud UART
 *            (8N1, 100 000 bytes/s) carries of the same frames. Target: ≥ 10× that.
 *            Ceiling: an mqtt.js publisher straight to the broker, same messages, same subscriber.
 *   down     broker → host: N messages published to a topic the host subscribed with MQTT.Sub,
 *            counted as `MQTT.Message` lines at the host end; against the same UART baseline.
 *   shadow   AWS-shadow update requests (10 in flight: AWS's limit, more get 429) to the CCM as
 *            authority, counted at `update/accepted`; each also publishes `documents` and a delta
 *            to the host.
 *   rss      the CCM's resident set at idle (connected, nothing flowing) and the peak under load.
 *
 * Environment: BENCH_MQTT_N (10000 messages per measurement), BENCH_MQTT_ROUNDS (3).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { autoDetect } from "@serialport/bindings-cpp";
import { SerialPortStream } from "@serialport/stream";
import mqtt, { type MqttClient } from "mqtt";
import { startMosquitto } from "../test/helpers/brokers.js";
import { ptyPair } from "../test/helpers/socat.js";
import { BUILD_ENV, REPO_ROOT, ensureBuild } from "./ccm-build.js";
import { envNumber, fmtInt, isEntryPoint, median, report, sleep, type BenchResult } from "./util.js";

const N = envNumber("BENCH_MQTT_N", 10_000);
const ROUNDS = envNumber("BENCH_MQTT_ROUNDS", 3);
const UART_BYTES_PER_S = 1_000_000 / 10;
const TARGET = 10;
const SHADOW_WINDOW = 10;
const PHASE_TIMEOUT_MS = 30_000;

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? 0 : Number(m[1]);
}

/** The host end: answers the CCM's requests with -32601, collects notifications by method. */
class RawHost {
  readonly port: SerialPortStream;
  private buf = "";
  private readonly counters = new Map<string, number>();
  private readonly waiters = new Map<number, (r: unknown) => void>();
  private nextId = 1;
  /** Bytes of the last MQTT.Message line seen (for the UART baseline). */
  messageBytes = 0;

  constructor(path: string) {
    this.port = new SerialPortStream({
      binding: autoDetect(),
      path,
      baudRate: 115200,
      hupcl: false,
      autoOpen: false,
    });
    this.port.on("data", (d: Buffer) => {
      this.buf += d.toString("utf8");
      let nl: number;
      while ((nl = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.line(line);
      }
    });
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.port.open((e) => {
        if (e) reject(e);
        else resolve();
      });
    });
  }

  count(method: string): number {
    return this.counters.get(method) ?? 0;
  }

  /** Writes, waiting for the pty to drain when its buffer is full. */
  async write(data: string): Promise<void> {
    if (!this.port.write(data)) await new Promise((r) => this.port.once("drain", r));
  }

  async call(method: string, params: unknown): Promise<unknown> {
    const id = this.nextId++;
    const answer = new Promise((resolve) => this.waiters.set(id, resolve));
    await this.write(`${JSON.stringify({ id, method, params })}\n`);
    return answer;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.port.isOpen) resolve();
      else
        this.port.close(() => {
          resolve();
        });
    });
  }

  private line(line: string): void {
    let f: { id?: number; method?: string; result?: unknown; error?: unknown };
    try {
      f = JSON.parse(line) as typeof f;
    } catch {
      return;
    }
    if (f.method === undefined) {
      const w = f.id === undefined ? undefined : this.waiters.get(f.id);
      if (w !== undefined && f.id !== undefined) {
        this.waiters.delete(f.id);
        w(f.error ?? f.result);
      }
      return;
    }
    this.counters.set(f.method, this.count(f.method) + 1);
    if (f.method === "MQTT.Message") this.messageBytes = Buffer.byteLength(line) + 1;
    if (f.id !== undefined)
      void this.write(
        `${JSON.stringify({ id: f.id, error: { code: -32601, message: "method not found" } })}\n`,
      );
  }
}

async function until(check: () => boolean, what: string | (() => string)): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > PHASE_TIMEOUT_MS)
      throw new Error(`${typeof what === "string" ? what : what()}: not done within ${PHASE_TIMEOUT_MS} ms`);
    await sleep(2);
  }
}

function pubFrame(i: number, qos: 0 | 1): string {
  return `${JSON.stringify({ method: "MQTT.Pub", params: { topic: "bench/up", message: `reading ${i} 21.5C`, qos } })}\n`;
}

/** Host → broker msgs/s; `got` counts at the subscriber. */
async function up(host: RawHost, got: { n: number }, qos: 0 | 1): Promise<number> {
  const start = got.n;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await host.write(pubFrame(i, qos));
  await until(() => got.n - start >= N, `up qos ${qos}: ${got.n - start}/${N} arrived`);
  return N / ((performance.now() - t0) / 1000);
}

/** The same messages from an mqtt.js publisher straight to the broker: the broker's ceiling here. */
async function direct(pub: MqttClient, got: { n: number }): Promise<number> {
  const start = got.n;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) pub.publish("bench/up", `reading ${i} 21.5C`, { qos: 0 });
  await until(() => got.n - start >= N, "direct");
  return N / ((performance.now() - t0) / 1000);
}

async function down(host: RawHost, pub: MqttClient): Promise<number> {
  const start = host.count("MQTT.Message");
  const t0 = performance.now();
  for (let i = 0; i < N; i++) pub.publish("bench/down", `command ${i} set 22.0C`, { qos: 0 });
  await until(() => host.count("MQTT.Message") - start >= N, "down");
  return N / ((performance.now() - t0) / 1000);
}

async function shadow(aws: MqttClient, accepted: { n: number }): Promise<number> {
  const prefix = "$aws/things/ccm_bench/shadow";
  const start = accepted.n;
  const total = Math.min(N, 5000);
  let sent = 0;
  const t0 = performance.now();
  const send = (): void => {
    const i = sent++;
    aws.publish(
      `${prefix}/update`,
      JSON.stringify({ state: { desired: { setpoint: i } }, clientToken: `b${i}` }),
      { qos: 0 },
    );
  };
  for (let i = 0; i < SHADOW_WINDOW; i++) send();
  await until(
    () => {
      while (sent < total && sent - (accepted.n - start) < SHADOW_WINDOW) send();
      return accepted.n - start >= total;
    },
    () => `shadow: ${accepted.n - start}/${total} accepted`,
  );
  return total / ((performance.now() - t0) / 1000);
}

async function main(): Promise<BenchResult> {
  const build = await ensureBuild();
  const env = { ...process.env, ...(build.root === undefined ? {} : { [BUILD_ENV]: build.root }) };
  const cleanups: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;
  const load0 = loadavg()[0] ?? 0;
  try {
    const broker = await startMosquitto(t);
    const pty = await ptyPair(t);
    const dataDir = await mkdtemp(join(tmpdir(), "ccm-bench-mqtt-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const args = [
      "start",
      "--host-port",
      pty.a,
      "--data-dir",
      dataDir,
      "--set",
      "device.id=ccm_bench",
      "--set",
      "host.ping_ms=0",
      "--set",
      "host.inbox_max=100000",
      "--set",
      "mqtt.enable=true",
      "--set",
      `mqtt.server=${broker.server}`,
      "--set",
      "mqtt.queue_max=100000",
      "--set",
      "rpc.http.enable=false",
      "--set",
      "debug.level=0",
    ];
    const entry =
      build.root === undefined
        ? ["--import", "tsx", join(REPO_ROOT, "src/cli/main.ts")]
        : [join(build.root, "dist/cli/main.js")];
    const ccm = spawn(process.execPath, [...entry, ...args], {
      cwd: REPO_ROOT,
      env,
      stdio: ["ignore", "ignore", "inherit"],
    });
    cleanups.push(() => ccm.kill("SIGTERM"));
    const pid = ccm.pid ?? 0;
    const host = new RawHost(pty.b);
    await host.open();
    cleanups.push(() => host.close());
    const t1 = Date.now();
    for (;;) {
      const info = (await Promise.race([host.call("Sys.GetInfo", {}), sleep(1000)])) as
        { mqtt?: { connected?: boolean } } | undefined;
      if (info?.mqtt?.connected === true) break;
      if (ccm.exitCode !== null) throw new Error(`ccm start exited with ${ccm.exitCode}`);
      if (Date.now() - t1 > 20_000) throw new Error("the CCM did not connect to the broker");
      await sleep(200);
    }
    const sub = await mqtt.connectAsync(`mqtt://${broker.server}`, { clientId: "bench-sub" });
    const pub = await mqtt.connectAsync(`mqtt://${broker.server}`, { clientId: "bench-pub" });
    cleanups.push(
      () => sub.endAsync(true),
      () => pub.endAsync(true),
    );
    const got = { n: 0 };
    const accepted = { n: 0 };
    sub.on("message", (topic) => {
      if (topic === "bench/up") got.n++;
      else if (topic.endsWith("/update/accepted")) accepted.n++;
    });
    // QoS 0 to the counting subscriber: Mosquitto drops QoS 1 beyond max_queued_messages (1000) for a
    // subscriber that lags, and this one shares its process with the host end.
    await sub.subscribeAsync("bench/up", { qos: 0 });
    await sub.subscribeAsync("$aws/things/ccm_bench/shadow/update/accepted", { qos: 0 });
    await host.call("MQTT.Sub", { topic: "bench/down", qos: 0 });
    await sleep(2000);
    const idle = rssKiB(pid);
    let peak = idle;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssKiB(pid));
    }, 50);
    cleanups.push(() => {
      clearInterval(sampler);
    });

    const r = {
      up0: [] as number[],
      up1: [] as number[],
      direct: [] as number[],
      down: [] as number[],
      shadow: [] as number[],
    };
    for (let round = 0; round < ROUNDS; round++) {
      r.up0.push(await up(host, got, 0));
      r.direct.push(await direct(pub, got));
      r.up1.push(await up(host, got, 1));
      r.down.push(await down(host, pub));
      r.shadow.push(await shadow(sub, accepted));
      console.log(
        `round ${round + 1}: up qos0 ${fmtInt(r.up0.at(-1) ?? 0)}/s qos1 ${fmtInt(r.up1.at(-1) ?? 0)}/s direct ${fmtInt(r.direct.at(-1) ?? 0)}/s · down ${fmtInt(r.down.at(-1) ?? 0)}/s · shadow ${fmtInt(r.shadow.at(-1) ?? 0)}/s`,
      );
    }
    const upBytes = Buffer.byteLength(pubFrame(12345, 0));
    const upUart = UART_BYTES_PER_S / upBytes;
    const downUart = UART_BYTES_PER_S / host.messageBytes;
    const upRatio = median(r.up0) / upUart;
    const up1Ratio = median(r.up1) / upUart;
    const downRatio = median(r.down) / downUart;
    return {
      name: "mqtt",
      rows: [
        {
          metric: `host → broker MQTT.Pub QoS 0 msgs/s (${upBytes}-byte frames)`,
          value: fmtInt(median(r.up0)),
        },
        { metric: "host → broker MQTT.Pub QoS 1 msgs/s", value: fmtInt(median(r.up1)) },
        { metric: "1 Mbaud UART capacity for these frames, msgs/s", value: fmtInt(upUart) },
        {
          metric: "host → broker QoS 0 / 1 Mbaud UART",
          value: upRatio.toFixed(1),
          target: `≥ ${TARGET}`,
          met: upRatio >= TARGET,
        },
        {
          metric: "host → broker QoS 1 / 1 Mbaud UART",
          value: up1Ratio.toFixed(1),
          target: `≥ ${TARGET}`,
          met: up1Ratio >= TARGET,
        },
        {
          metric: "mqtt.js publisher straight to the broker, msgs/s (ceiling)",
          value: fmtInt(median(r.direct)),
        },
        {
          metric: `broker → host MQTT.Message msgs/s (${host.messageBytes}-byte frames)`,
          value: fmtInt(median(r.down)),
        },
        {
          metric: "broker → host / 1 Mbaud UART",
          value: downRatio.toFixed(1),
          target: `≥ ${TARGET}`,
          met: downRatio >= TARGET,
        },
        {
          metric: `shadow updates/s, CCM as authority on Mosquitto (${SHADOW_WINDOW} in flight)`,
          value: fmtInt(median(r.shadow)),
        },
        {
          metric: "CCM RSS idle / peak under this load",
          value: `${(idle / 1024).toFixed(1)} MiB / ${(peak / 1024).toFixed(1)} MiB`,
        },
      ],
      notes: [
        `mqtt: ${ROUNDS} rounds × ${N} messages; Mosquitto on 127.0.0.1; load average ${load0.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)}`,
      ],
    };
  } finally {
    for (const c of cleanups.reverse()) await c();
    await build.cleanup();
  }
}

if (isEntryPoint(import.meta.url)) await report(await main());
