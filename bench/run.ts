/**
 * Runs the benchmarks, each in its own node process (so one's heap and JIT state do not colour the
 * other's), and prints a summary table in Markdown.
 *
 *   npm run bench                    # all
 *   npm run bench -- rpc-dispatch    # one (or several) by name
 *
 * The ccm build they measure (src/ emitted as tsc emits it, see ccm-build.ts) is made once here and
 * handed to them. Exit status: 0 when every benchmark ran (whether or not its targets were met),
 * 1 when one failed, 2 on a bad argument.
 */
import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { BUILD_ENV, REPO_ROOT, buildCcm, flavour, removeBuild } from "./ccm-build.js";
import { envNumber, summaryTable, type BenchResult } from "./util.js";

const BENCHES = {
  "rpc-dispatch": { file: "rpc-dispatch.ts", timeoutMs: 60_000 },
  "pty-roundtrip": { file: "pty-roundtrip.ts", timeoutMs: 60_000 },
  "remote-rpc": { file: "remote-rpc.ts", timeoutMs: 120_000 },
  mqtt: { file: "mqtt.ts", timeoutMs: 240_000 },
  // ~6.5 min for 64 + 512 KiB with verify, both contenders (~5 min of it on the wire); the bench bounds each flash itself.
  flash: { file: "flash.ts", timeoutMs: 600_000 * Math.round(envNumber("BENCH_FLASH_RUNS", 1)) },
} as const;
type BenchName = keyof typeof BENCHES;

function isBenchName(s: string): s is BenchName {
  return Object.hasOwn(BENCHES, s);
}

/** Runs one benchmark in a child node; resolves with what it reported. */
function runChild(name: BenchName, env: NodeJS.ProcessEnv): Promise<BenchResult> {
  const { file, timeoutMs } = BENCHES[name];
  const script = fileURLToPath(new URL(`./${file}`, import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", script], {
      cwd: REPO_ROOT,
      env,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let result: BenchResult | undefined;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name}: no result within ${timeoutMs} ms; killed`));
    }, timeoutMs);
    child.on("message", (m) => {
      result = m as BenchResult;
    });
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && result !== undefined) resolve(result);
      else
        reject(
          new Error(
            `${name} exited with ${signal ?? String(code)}${result === undefined ? " without a result" : ""}`,
          ),
        );
    });
  });
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !isBenchName(a));
  if (unknown.length > 0) {
    console.error(`unknown benchmark ${unknown.join(", ")}; known: ${Object.keys(BENCHES).join(", ")}`);
    return 2;
  }
  const names: BenchName[] =
    args.length === 0 ? (Object.keys(BENCHES) as BenchName[]) : args.filter(isBenchName);

  const t0 = performance.now();
  const cpu = cpus();
  const machine = `${cpu.length} × ${cpu[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`;
  console.log(`bench: ${names.join(", ")} on ${machine}`);

  let root: string | undefined;
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (flavour() === "dist" && process.env[BUILD_ENV] === undefined) {
    const b0 = performance.now();
    root = await buildCcm();
    env[BUILD_ENV] = root;
    console.log(`bench: src/ transpiled in ${((performance.now() - b0) / 1000).toFixed(1)} s`);
  }

  const results: BenchResult[] = [];
  let failed = false;
  try {
    for (const name of names) {
      console.log(`\n## ${name}\n`);
      try {
        results.push(await runChild(name, env));
      } catch (e) {
        failed = true;
        console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  } finally {
    if (root !== undefined) await removeBuild(root);
  }

  console.log(`\n## Summary\n\n${machine}; ${((performance.now() - t0) / 1000).toFixed(1)} s in all\n`);
  console.log(summaryTable(results));
  console.log("");
  for (const r of results) for (const n of r.notes) console.log(`- ${n}`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
