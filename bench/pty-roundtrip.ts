/**
 * Sequential round trips through a real socat pty pair (a virtual null-modem cable):
 *
 *   ccm   a SerialRpcChannel (the CCM side, client) on end A calls `Sum` [i, i+1] on a HostSimulator
 *         on end B; one call at a time, the next starts when the previous one has resolved.
 *   bare  the baseline: the same bytes without any JSON-RPC. End A writes a line of the same length
 *         as ccm's request frame, end B echoes every line back as it comes, and A waits for the
 *         newline. Both ends use the CCM's SerialPortTransport (node-serialport with its reads and
 *         writes done as non-blocking syscalls on the loop's thread, each write followed by a drain
 *         nobody waits for), the same I/O as ccm's two ends.
 *
 * Both setups run in this one process (each on its own socat pair), so the only difference between
 * them is ccm's stack on both ends: framing, JSON-RPC encode/decode, dispatch, the call's promise and
 * timer. "Latency the CCM adds" = ccm − bare per round trip (p50 and p99); a round trip crosses the
 * CCM's stack twice (CCM side and host side), so per hop = half of that. Target: p99 added per hop < 1 ms.
 *
 * The two setups alternate in ROUNDS rounds after a warm-up, all latencies of a setup are pooled.
 * A third setup, "stock serialport echo" (the baseline on @serialport/stream with bindings-cpp's own
 * reads and writes, a thread-pool hand-off each), tells what the transport's own I/O saves;
 * BENCH_PTY_STOCK=0 leaves it out.
 *
 * Environment: BENCH_PTY_CALLS (5000 per setup), BENCH_PTY_ROUNDS (5), BENCH_PTY_MAX_MS (10000 per setup),
 * BENCH_PTY_WARMUP (300 calls per setup), BENCH_CCM=tsx to measure src/ via tsx instead of the shipped build.
 */
import { rm } from "node:fs/promises";
import { loadavg } from "node:os";
import { dirname } from "node:path";
import { ptyPair, type PtyPair } from "../test/helpers/socat.js";
import { ensureBuild, flavour, importCcm } from "./ccm-build.js";
import { stockEnd, transportEnd, type EchoEnd } from "./echo-ends.js";
import {
  envNumber,
  fmtInt,
  fmtUs,
  isEntryPoint,
  markdownTable,
  percentile,
  report,
  sleep,
  type BenchResult,
} from "./util.js";

const TARGET_ADDED_P99_PER_HOP_MS = 1;
const CALL_TIMEOUT_MS = 2000;
/** Round medians of one setup further apart than this factor flag the run as unstable. */
const UNSTABLE_P50_SPREAD = 1.5;
/** The whole bench gives up after this long (a wedged pty must not hang `npm run bench`). */
const WATCHDOG_MS = 50_000;

type SerialRpcModule = typeof import("../src/channels/serial-rpc.js");
type SimModule = typeof import("../src/sim/host-simulator.js");

/** One setup able to make one round trip with call number `i`. */
interface Setup {
  name: string;
  roundTrip(i: number): Promise<void>;
  close(): Promise<void>;
}

/** Latencies (ms) and CPU time of one setup, pooled over its rounds. */
class Samples {
  readonly latencies: number[] = [];
  /** p50 of each round, to tell a disturbed run. */
  readonly roundP50: number[] = [];
  wallMs = 0;
  cpuUs = 0;
}

/** What ccm's peer sends for call `i`: `{"jsonrpc":"2.0","method":"Sum","id":N,"params":[i,i+1]}`. */
function requestLike(i: number): Buffer {
  return Buffer.from(
    `${JSON.stringify({ jsonrpc: "2.0", method: "Sum", id: 500_000 + i, params: [i, i + 1] })}\n`,
  );
}

/** The baseline: raw lines written on A, echoed by B, awaited on A. */
async function bareSetup(pair: PtyPair, stock: boolean, root: string | undefined): Promise<Setup> {
  const end = (path: string): Promise<EchoEnd> => (stock ? stockEnd(path) : transportEnd(path, root));
  const a = await end(pair.a);
  const b = await end(pair.b);
  const write = (port: EchoEnd, data: Buffer): void => {
    port.write(data);
  };
  let held: Buffer[] = [];
  b.onData((chunk: Buffer) => {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) {
        if (start < chunk.length) held.push(Buffer.from(chunk.subarray(start)));
        return;
      }
      const line = Buffer.concat([...held, chunk.subarray(start, nl + 1)]);
      held = [];
      write(b, line);
      start = nl + 1;
    }
  });
  let waiter: (() => void) | undefined;
  a.onData((chunk: Buffer) => {
    if (chunk.includes(0x0a) && waiter !== undefined) {
      const w = waiter;
      waiter = undefined;
      w();
    }
  });
  return {
    name: stock ? "stock serialport echo" : "bare echo",
    roundTrip(i) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`bare echo: no echo within ${CALL_TIMEOUT_MS} ms`));
        }, CALL_TIMEOUT_MS);
        waiter = () => {
          clearTimeout(timer);
          resolve();
        };
        write(a, requestLike(i));
      });
    },
    async close() {
      await a.close();
      await b.close();
    },
  };
}

/** ccm: a SerialRpcChannel on A calling Sum on a HostSimulator on B. */
async function ccmSetup(pair: PtyPair, root: string | undefined): Promise<Setup> {
  const { SerialRpcChannel } = await importCcm<SerialRpcModule>("channels/serial-rpc", root);
  const { HostSimulator } = await importCcm<SimModule>("sim/host-simulator", root);
  const channel = new SerialRpcChannel({
    path: pair.a,
    settings: { baudRate: 115200 },
    reconnect: false,
    timeoutMs: CALL_TIMEOUT_MS,
  });
  const host = new HostSimulator({ port: pair.b, reconnect: false, bootReport: false });
  await channel.link.open();
  await host.start();
  await sleep(50); // let the host's boot banner (a log line) pass
  return {
    name: "ccm",
    async roundTrip(i) {
      const result = await channel.peer.call("Sum", [i, i + 1]);
      if (result !== 2 * i + 1)
        throw new Error(`ccm: Sum [${i}, ${i + 1}] answered ${JSON.stringify(result)}`);
    },
    async close() {
      await channel.link.stop();
      await host.stop();
    },
  };
}

async function runRound(
  setup: Setup,
  samples: Samples | undefined,
  from: number,
  count: number,
  deadline: number,
): Promise<number> {
  const cpu0 = process.cpuUsage();
  const first = samples?.latencies.length ?? 0;
  const t0 = performance.now();
  let done = 0;
  for (let i = from; i < from + count && performance.now() < deadline; i++) {
    const s = performance.now();
    await setup.roundTrip(i);
    samples?.latencies.push(performance.now() - s);
    done++;
  }
  if (samples !== undefined) {
    samples.wallMs += performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    samples.cpuUs += cpu.user + cpu.system;
    const round = samples.latencies.slice(first).sort((x, y) => x - y);
    if (round.length > 0) samples.roundP50.push(percentile(round, 50));
  }
  return done;
}

interface Stats {
  n: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
  cpuUsPerCall: number;
}

function stats(s: Samples): Stats {
  const sorted = [...s.latencies].sort((x, y) => x - y);
  return {
    n: sorted.length,
    perSecond: (sorted.length * 1000) / s.wallMs,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1]!,
    cpuUsPerCall: s.cpuUs / sorted.length,
  };
}

export async function run(): Promise<BenchResult> {
  const calls = Math.round(envNumber("BENCH_PTY_CALLS", 5000));
  const rounds = Math.round(envNumber("BENCH_PTY_ROUNDS", 5));
  const maxMs = envNumber("BENCH_PTY_MAX_MS", 10_000);
  const warmup = Math.round(envNumber("BENCH_PTY_WARMUP", 300));
  const perRound = Math.ceil(calls / rounds);

  const pairs: PtyPair[] = [];
  const setups: Setup[] = [];
  const build = await ensureBuild();
  const watchdog = setTimeout(() => {
    console.error(`pty-roundtrip: still running after ${WATCHDOG_MS} ms; giving up`);
    for (const p of pairs) void p.kill();
    process.exit(1);
  }, WATCHDOG_MS);
  watchdog.unref();
  try {
    // One socat pair per setup, all open at once, so the setups can alternate round by round.
    const open = async <T extends Setup>(make: (pair: PtyPair) => Promise<T>): Promise<T> => {
      const pair = await ptyPair();
      pairs.push(pair);
      const setup = await make(pair);
      setups.push(setup);
      return setup;
    };
    const bare = await open((p) => bareSetup(p, false, build.root));
    const ccm = await open((p) => ccmSetup(p, build.root));
    const withStock = process.env["BENCH_PTY_STOCK"] !== "0";
    const stock = withStock ? await open((p) => bareSetup(p, true, build.root)) : undefined;
    const measured: [Setup, Samples][] = [
      [bare, new Samples()],
      [ccm, new Samples()],
      ...(stock === undefined ? [] : [[stock, new Samples()] as [Setup, Samples]]),
    ];
    const load0 = loadavg()[0]!;
    console.log(
      `pty-roundtrip: ccm = ${flavour() === "dist" ? "src/ emitted by tsc (as shipped)" : "src/ via tsx"}; ` +
        `${warmup} warm-up calls, then up to ${calls} sequential calls per setup in ${rounds} alternating rounds ` +
        `(at most ${maxMs} ms per setup); load average ${load0.toFixed(2)}`,
    );

    for (const [setup] of measured) await runRound(setup, undefined, 0, warmup, Infinity);
    const start = performance.now();
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < measured.length; k++) {
        const [setup, samples] = measured[(k + r) % measured.length]!;
        const budget = maxMs - samples.wallMs;
        if (budget > 0)
          await runRound(setup, samples, warmup + r * perRound, perRound, performance.now() + budget);
      }
    }
    const elapsed = performance.now() - start;
    const load1 = loadavg()[0]!;

    const [b, c, d] = measured.map(([, samples]) => stats(samples)) as [Stats, Stats, Stats | undefined];
    const addedP50 = c.p50 - b.p50;
    const addedP99 = c.p99 - b.p99;
    const row = (name: string, s: Stats): string[] => [
      name,
      fmtInt(s.n),
      fmtInt(s.perSecond),
      fmtUs(s.p50),
      fmtUs(s.p99),
      fmtUs(s.max),
      s.cpuUsPerCall.toFixed(0),
    ];
    console.log(
      `\n${markdownTable(
        ["setup", "calls", "round trips/s", "p50", "p99", "max", "CPU µs per round trip (this process)"],
        measured.map(([setup, samples]) => row(setup.name, stats(samples))),
      )}`,
    );
    console.log(
      `\nlatency the CCM adds per round trip (ccm − bare echo): p50 ${fmtUs(addedP50)}, p99 ${fmtUs(addedP99)}; ` +
        `per hop (÷2): p50 ${fmtUs(addedP50 / 2)}, p99 ${fmtUs(addedP99 / 2)} (target p99 per hop < ${TARGET_ADDED_P99_PER_HOP_MS} ms)` +
        (addedP50 < 0 || addedP99 < 0
          ? "; a negative figure: ccm was as fast as the baseline, what it adds is within the noise"
          : ""),
    );
    if (d !== undefined) {
      console.log(
        `what the transport's own I/O saves per round trip (stock serialport echo − bare echo): p50 ${fmtUs(d.p50 - b.p50)}, p99 ${fmtUs(d.p99 - b.p99)}`,
      );
    }
    console.log(
      `ccm / bare round trips per second: ${(c.perSecond / b.perSecond).toFixed(2)}; measured in ${(elapsed / 1000).toFixed(1)} s`,
    );
    console.log(
      `p50 of each round: ${measured.map(([setup, samples]) => `${setup.name} ${samples.roundP50.map((x) => fmtUs(x)).join(", ")}`).join("; ")}`,
    );

    const metP99 = addedP99 / 2 < TARGET_ADDED_P99_PER_HOP_MS;
    // A baseline slower than ccm, or rounds whose medians disagree, mean the machine was busy.
    const roundSpread = (xs: number[]): number => Math.max(...xs) / Math.min(...xs);
    // What ccm adds (tens of µs at p50) is below the round-to-round noise of a pty round trip, so a
    // negative difference is noise, not a disturbed run; rounds whose medians disagree are.
    const unstable = measured.some(
      ([, samples]) => samples.roundP50.length > 1 && roundSpread(samples.roundP50) > UNSTABLE_P50_SPREAD,
    );
    const rows: BenchResult["rows"] = [
      { metric: "ccm round trips/s (sequential)", value: fmtInt(c.perSecond) },
      { metric: "bare echo round trips/s", value: fmtInt(b.perSecond) },
      { metric: "ccm latency p50 / p99 / max", value: `${fmtUs(c.p50)} / ${fmtUs(c.p99)} / ${fmtUs(c.max)}` },
      {
        metric: "bare echo latency p50 / p99 / max",
        value: `${fmtUs(b.p50)} / ${fmtUs(b.p99)} / ${fmtUs(b.max)}`,
      },
      { metric: "CCM adds per round trip, p50 / p99", value: `${fmtUs(addedP50)} / ${fmtUs(addedP99)}` },
      { metric: "CCM adds per hop, p50", value: fmtUs(addedP50 / 2) },
      {
        metric: "CCM adds per hop, p99",
        value: fmtUs(addedP99 / 2),
        target: `< ${TARGET_ADDED_P99_PER_HOP_MS} ms`,
        met: metP99,
        unstable,
      },
    ];
    if (d !== undefined) {
      rows.push({
        metric: "stock serialport echo latency p50 / p99 (information)",
        value: `${fmtUs(d.p50)} / ${fmtUs(d.p99)}`,
      });
    }
    const warnings = unstable
      ? [
          `pty-roundtrip: UNSTABLE RUN — round medians of a setup differ by more than ${UNSTABLE_P50_SPREAD}×: something else was running; rerun on a quiet machine`,
        ]
      : [];
    for (const w of warnings) console.log(`\n${w}`);
    return {
      name: "pty-roundtrip",
      rows,
      notes: [
        ...warnings,
        `pty-roundtrip: ${measured.map(([setup, samples]) => `${fmtInt(samples.latencies.length)} ${setup.name}`).join(", ")} calls ` +
          `in ${rounds} alternating rounds; load average ${load0.toFixed(2)} → ${load1.toFixed(2)}; CPU per round trip ` +
          `(both ends, this process): ${measured.map(([setup, samples]) => `${setup.name} ${stats(samples).cpuUsPerCall.toFixed(0)} µs`).join(", ")}`,
      ],
    };
  } finally {
    for (const s of setups.reverse()) await s.close().catch(() => undefined);
    for (const p of pairs) {
      await p.kill();
      await rm(dirname(p.a), { recursive: true, force: true });
    }
    await build.cleanup();
    clearTimeout(watchdog);
  }
}

if (isEntryPoint(import.meta.url)) {
  await report(await run());
}
