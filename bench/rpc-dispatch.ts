/**
 * In-process request → response dispatch of a Sum-like method: request text in, response text out
 * (JSON.parse + dispatch + JSON.stringify of the reply), in frames per second, for three contenders
 * measured side by side in one run:
 *
 *   ccm          RpcPeer.receiveText(text) on a registry with Sum registered with a TypeBox params
 *                schema and positional ["a","b"]; the peer's `send` does encodeFrame(frame), as
 *                SerialRpcChannel's does (JSON.stringify's text; a plain success response is written
 *                from its parts). A frame counts when its reply text reaches `send`.
 *   json-rpc-2.0 JSONRPCServer.receiveJSON(text).then(r => JSON.stringify(r)): what a user of that
 *                library does with text frames (its README's WebSocket example). A frame counts when
 *                its promise has settled and the reply text is made.
 *   ceiling      bare JSON.parse(text) + JSON.stringify({jsonrpc, id, result}): the issue's ceiling. A
 *                dispatcher that writes its reply without JSON.stringify of an object can pass it.
 *
 * ccm is the code as shipped (src/ emitted by the TypeScript compiler, see ccm-build.ts); "ccm via
 * tsx" (src/*.ts through tsx) is measured too, for information.
 *
 * Frames come from a pool of distinct frames (different ids and params). Each contender is fed in
 * batches of BATCH frames and each batch is awaited until every reply has been delivered, so the
 * promise work of the asynchronous library is counted in full. After a warm-up, ROUNDS rounds are
 * run; in a round every contender gets ~ROUND_MS of running time, handed out in SLICES interleaved
 * slices (A B C, B C A, …) so that a change in machine speed during the round (other processes,
 * noisy neighbours of this VM) hits all contenders alike. Reported: the median over rounds of each
 * contender's frames/s, the ratios of those medians, and the median of the per-round ratios.
 *
 * Environment: BENCH_ROUNDS (5), BENCH_ROUND_MS (1000), BENCH_SLICES (10), BENCH_WARMUP_MS (600),
 * BENCH_TSX_CONTENDER=0 to skip "ccm via tsx", BENCH_CCM=tsx to measure src/ via tsx as "ccm".
 */
import { loadavg } from "node:os";
import { JSONRPCServer, type JSONRPCResponse } from "json-rpc-2.0";
import Type from "typebox";
import { ensureBuild, flavour, importCcm } from "./ccm-build.js";
import {
  envNumber,
  fmtInt,
  isEntryPoint,
  markdownTable,
  median,
  report,
  type BenchResult,
  type BenchRow,
} from "./util.js";

const POOL_SIZE = 4096; // a power of two: indexes wrap with a mask
const MASK = POOL_SIZE - 1;
const BATCH = 1000;
const TARGET_VS_LIB = 2;
const TARGET_VS_CEILING = 0.5;
/** Per-round ratios further apart than this (relative to their median) flag the run as unstable. */
const UNSTABLE_SPREAD = 0.3;

/** Takes a frame's text; delivers the reply's text to the `out` it was built with. */
type Fire = (text: string) => void;

export interface Contender {
  name: string;
  how: string;
  build(out: (text: string) => void): Fire;
}

/** Deterministic pseudo-random numbers (mulberry32), so every run uses the same frames. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** POOL_SIZE distinct request texts with ids 1.. and integer params in ±1,000,000. */
export function framePool(): string[] {
  const rnd = prng(0xc0ffee);
  const int = (): number => Math.floor(rnd() * 2_000_001) - 1_000_000;
  return Array.from({ length: POOL_SIZE }, (_, i) =>
    JSON.stringify({ jsonrpc: "2.0", id: i + 1, method: "Sum", params: [int(), int()] }),
  );
}

/** The ccm modules a contender is built from: the shipped build, or src/ through tsx. */
export interface RpcModules {
  registry: typeof import("../src/rpc/registry.js");
  peer: typeof import("../src/rpc/peer.js");
  server: typeof import("../src/rpc/server.js");
  frame: typeof import("../src/rpc/frame.js");
}

export async function loadRpcModules(root?: string): Promise<RpcModules> {
  return {
    registry: await importCcm<RpcModules["registry"]>("rpc/registry", root),
    peer: await importCcm<RpcModules["peer"]>("rpc/peer", root),
    server: await importCcm<RpcModules["server"]>("rpc/server", root),
    frame: await importCcm<RpcModules["frame"]>("rpc/frame", root),
  };
}

/** ccm's own path, built from `mods`. */
export function ccmContender(name: string, mods: RpcModules, note = ""): Contender {
  const { MethodRegistry } = mods.registry;
  const { RpcPeer } = mods.peer;
  const { RpcServer } = mods.server;
  const { encodeFrame } = mods.frame;
  return {
    name,
    how: `RpcPeer.receiveText(text), send = encodeFrame(frame); Sum with TypeBox schema + positional [a,b]${note}`,
    build(out) {
      const registry = new MethodRegistry().register({
        name: "Sum",
        description: "Adds two numbers.",
        params: Type.Object({ a: Type.Number(), b: Type.Number() }),
        positional: ["a", "b"],
        handler: ({ a, b }) => a + b,
      });
      const peer = new RpcPeer({
        send: (frame) => {
          out(encodeFrame(frame));
        },
        server: new RpcServer(registry),
        context: { channel: "UART", peer: "/dev/bench" },
      });
      return (text) => {
        peer.receiveText(text);
      };
    },
  };
}

export const jsonRpc2: Contender = {
  name: "json-rpc-2.0",
  how: 'JSONRPCServer.receiveJSON(text).then(r => JSON.stringify(r)); addMethod("Sum", ([a,b]) => a+b)',
  build(out) {
    const server = new JSONRPCServer();
    server.addMethod("Sum", (params) => {
      const [a, b] = params as [number, number];
      return a + b;
    });
    const onResponse = (r: JSONRPCResponse | JSONRPCResponse[] | null): void => {
      out(r === null ? "" : JSON.stringify(r));
    };
    const onError = (e: unknown): void => {
      throw e instanceof Error ? e : new Error(String(e));
    };
    return (text) => {
      server.receiveJSON(text).then(onResponse, onError);
    };
  },
};

export const ceiling: Contender = {
  name: "ceiling",
  how: "JSON.parse(text) + JSON.stringify({jsonrpc, id, result: a+b})",
  build(out) {
    return (text) => {
      const req = JSON.parse(text) as { id: number; params: [number, number] };
      out(JSON.stringify({ jsonrpc: "2.0", id: req.id, result: req.params[0] + req.params[1] }));
    };
  },
};

/** The library and the ceiling; ccm's contenders are made from loaded modules. */
export const OTHERS = [jsonRpc2, ceiling] as const;

/** Feeds frames to one contender in batches and counts the replies it delivers. */
class Runner {
  readonly contender: Contender;
  /** frames/s of each round. */
  readonly fps: number[] = [];
  private readonly fire: Fire;
  private delivered = 0;
  private target = 0;
  private wake: (() => void) | undefined;
  private cursor = 0;
  /** Total reply length: keeps the replies observable. */
  sink = 0;
  /** Frames and milliseconds of the round in progress. */
  frames = 0;
  ms = 0;

  constructor(contender: Contender) {
    this.contender = contender;
    this.fire = contender.build((text) => {
      this.sink += text.length;
      if (++this.delivered === this.target) this.wake?.();
    });
  }

  /** Fires BATCH frames, then waits until all their replies have been delivered. */
  async batch(pool: readonly string[]): Promise<void> {
    this.target = this.delivered + BATCH;
    const from = this.cursor;
    for (let k = 0; k < BATCH; k++) this.fire(pool[(from + k) & MASK]!);
    this.cursor = (from + BATCH) & MASK;
    if (this.delivered < this.target) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }

  /** Runs whole batches for about `ms`, adding to the round's frames and time. */
  async slice(pool: readonly string[], ms: number): Promise<void> {
    const t0 = performance.now();
    let t: number;
    do {
      await this.batch(pool);
      this.frames += BATCH;
      t = performance.now();
    } while (t - t0 < ms);
    this.ms += t - t0;
  }

  /** Closes the round: records its frames/s. */
  endRound(): number {
    const fps = (this.frames * 1000) / this.ms;
    this.fps.push(fps);
    this.frames = 0;
    this.ms = 0;
    return fps;
  }
}

/** Checks that a contender answers the first frames correctly (and exactly once each). */
async function verify(contender: Contender, pool: readonly string[]): Promise<void> {
  const got: string[] = [];
  const fire = contender.build((text) => got.push(text));
  const n = 64;
  for (let i = 0; i < n; i++) fire(pool[i]!);
  await new Promise((resolve) => setImmediate(resolve));
  if (got.length !== n) throw new Error(`${contender.name}: ${got.length} replies to ${n} frames`);
  for (let i = 0; i < n; i++) {
    const req = JSON.parse(pool[i]!) as { id: number; params: [number, number] };
    const want = JSON.stringify({ jsonrpc: "2.0", id: req.id, result: req.params[0] + req.params[1] });
    if (got[i] !== want)
      throw new Error(`${contender.name}: frame ${pool[i]!} answered ${got[i]!}, expected ${want}`);
  }
}

interface Plan {
  rounds: number;
  roundMs: number;
  slices: number;
  warmupMs: number;
}

export async function run(): Promise<BenchResult> {
  const plan: Plan = {
    rounds: Math.round(envNumber("BENCH_ROUNDS", 5)),
    roundMs: envNumber("BENCH_ROUND_MS", 1000),
    slices: Math.round(envNumber("BENCH_SLICES", 10)),
    warmupMs: envNumber("BENCH_WARMUP_MS", 600),
  };
  // ccm as shipped (tsc emit) unless BENCH_CCM=tsx; plus, for information, src/ as tsx runs it.
  const withTsx = flavour() === "dist" && process.env["BENCH_TSX_CONTENDER"] !== "0";
  const build = await ensureBuild();
  try {
    const main = ccmContender(
      "ccm",
      await loadRpcModules(build.root),
      flavour() === "tsx" ? " (src/ via tsx)" : "",
    );
    const contenders: Contender[] = [main, ...OTHERS];
    if (withTsx) {
      const prev = process.env["BENCH_CCM"];
      process.env["BENCH_CCM"] = "tsx";
      try {
        contenders.push(ccmContender("ccm via tsx", await loadRpcModules(), " — src/*.ts through tsx"));
      } finally {
        if (prev === undefined) delete process.env["BENCH_CCM"];
        else process.env["BENCH_CCM"] = prev;
      }
    }
    return await measure(contenders, plan);
  } finally {
    await build.cleanup();
  }
}

async function measure(contenders: readonly Contender[], plan: Plan): Promise<BenchResult> {
  const { rounds, roundMs, slices, warmupMs } = plan;
  const pool = framePool();
  for (const c of contenders) await verify(c, pool);

  const runners = contenders.map((c) => new Runner(c));
  const load0 = loadavg()[0]!;
  console.log(
    `rpc-dispatch: ccm = ${flavour() === "dist" ? "src/ emitted by tsc (as shipped in dist/)" : "src/ via tsx"}; ` +
      `${POOL_SIZE} distinct frames, batches of ${BATCH}; warm-up ${warmupMs} ms each; ` +
      `${rounds} rounds of ${roundMs} ms per contender in ${slices} interleaved slices; load average ${load0.toFixed(2)}`,
  );
  for (let pass = 0; pass < 2; pass++) for (const r of runners) await r.slice(pool, warmupMs / 2);
  for (const r of runners) {
    r.frames = 0;
    r.ms = 0;
  }

  const sliceMs = roundMs / slices;
  const pairs: { vsLib: number; vsCeil: number }[] = [];
  for (let i = 0; i < rounds; i++) {
    for (let s = 0; s < slices; s++) {
      // Rotate the order every slice so no contender always runs right after the same other one.
      for (let k = 0; k < runners.length; k++)
        await runners[(k + s + i) % runners.length]!.slice(pool, sliceMs);
    }
    const fps = runners.map((r) => r.endRound());
    pairs.push({ vsLib: fps[0]! / fps[1]!, vsCeil: fps[0]! / fps[2]! });
    console.log(
      `  round ${i + 1}: ${runners.map((r, k) => `${r.contender.name} ${fmtInt(fps[k]!)}`).join(", ")} frames/s`,
    );
  }
  if (runners.some((r) => r.sink === 0)) throw new Error("a contender delivered no reply text");
  const load1 = loadavg()[0]!;

  const [ccmR, libR, ceilR] = runners as [Runner, Runner, Runner];
  const tsxR = runners[3];
  const med = (r: Runner): number => median(r.fps);
  const spread = (r: Runner): string => {
    const m = med(r);
    const lo = Math.min(...r.fps);
    const hi = Math.max(...r.fps);
    return `${fmtInt(lo)}–${fmtInt(hi)} (±${((100 * Math.max(m - lo, hi - m)) / m).toFixed(0)} %)`;
  };
  const vsLib = med(ccmR) / med(libR);
  const vsCeil = med(ccmR) / med(ceilR);
  const pairedLib = median(pairs.map((p) => p.vsLib));
  const pairedCeil = median(pairs.map((p) => p.vsCeil));
  const range = (xs: number[], digits: number): string =>
    `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
  const nsPerFrame = (r: Runner): number => 1e9 / med(r);
  // Rounds that disagree this much mean something else ran on the machine meanwhile.
  const relSpread = (xs: number[]): number => (Math.max(...xs) - Math.min(...xs)) / median(xs);
  const unstable =
    relSpread(pairs.map((p) => p.vsLib)) > UNSTABLE_SPREAD ||
    relSpread(pairs.map((p) => p.vsCeil)) > UNSTABLE_SPREAD;

  console.log(
    `\n${markdownTable(
      ["contender", "median frames/s", "ns/frame", "min–max over rounds", "what runs"],
      runners.map((r) => [
        r.contender.name,
        fmtInt(med(r)),
        nsPerFrame(r).toFixed(0),
        spread(r),
        r.contender.how,
      ]),
    )}`,
  );
  console.log(
    `\nccm / json-rpc-2.0 = ${vsLib.toFixed(2)}× (median of per-round ratios ${pairedLib.toFixed(2)}×, ` +
      `range ${range(
        pairs.map((p) => p.vsLib),
        2,
      )}; target ≥ ${TARGET_VS_LIB}×)`,
  );
  console.log(
    `ccm / ceiling      = ${vsCeil.toFixed(2)} (median of per-round ratios ${pairedCeil.toFixed(2)}, ` +
      `range ${range(
        pairs.map((p) => p.vsCeil),
        2,
      )}; target ≥ ${TARGET_VS_CEILING})`,
  );
  console.log(
    `ceiling / json-rpc-2.0 = ${(med(ceilR) / med(libR)).toFixed(2)}× (what a dispatcher that stringifies its reply object can reach at most)`,
  );
  console.log(`ccm time over the ceiling: ${(nsPerFrame(ccmR) - nsPerFrame(ceilR)).toFixed(0)} ns/frame`);

  const rows: BenchRow[] = [
    { metric: "ccm frames/s (median)", value: fmtInt(med(ccmR)) },
    { metric: "json-rpc-2.0 frames/s (median)", value: fmtInt(med(libR)) },
    { metric: "ceiling frames/s (median)", value: fmtInt(med(ceilR)) },
    {
      metric: "ccm / json-rpc-2.0",
      value: `${vsLib.toFixed(2)}× (per round ${range(
        pairs.map((p) => p.vsLib),
        2,
      )})`,
      target: `≥ ${TARGET_VS_LIB}×`,
      met: vsLib >= TARGET_VS_LIB,
      unstable,
    },
    {
      metric: "ccm / ceiling",
      value: `${vsCeil.toFixed(2)} (per round ${range(
        pairs.map((p) => p.vsCeil),
        2,
      )})`,
      target: `≥ ${TARGET_VS_CEILING}`,
      met: vsCeil >= TARGET_VS_CEILING,
      unstable,
    },
    {
      metric: "ceiling / json-rpc-2.0 (the most a dispatcher stringifying its reply object reaches)",
      value: `${(med(ceilR) / med(libR)).toFixed(2)}×`,
    },
  ];
  if (tsxR !== undefined) {
    const v = med(tsxR) / med(libR);
    rows.push({
      metric: "ccm via tsx frames/s (information)",
      value: `${fmtInt(med(tsxR))} (${v.toFixed(2)}× json-rpc-2.0)`,
    });
    console.log(`ccm via tsx / json-rpc-2.0 = ${v.toFixed(2)}× (src/*.ts through tsx, for information)`);
  }
  const notes = [
    `rpc-dispatch: ${rounds} rounds × ${roundMs} ms per contender in ${slices} interleaved slices; load average ${load0.toFixed(2)} → ${load1.toFixed(2)}; ` +
      `min–max over rounds: ${runners.map((r) => `${r.contender.name} ${spread(r)}`).join(", ")}`,
  ];
  if (unstable) {
    const warning = `rpc-dispatch: UNSTABLE RUN — per-round ratios differ by more than ${100 * UNSTABLE_SPREAD} %: something else was running; rerun on a quiet machine`;
    notes.push(warning);
    console.log(`\n${warning}`);
  }
  return { name: "rpc-dispatch", rows, notes };
}

if (isEntryPoint(import.meta.url)) {
  await report(await run());
}
