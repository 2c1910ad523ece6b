/**
 * Shared pieces of the benchmarks: the result shape bench/run.ts collects, statistics, formatting,
 * and the "run me when I am the entry point" guard.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";

/** One line of a benchmark's summary: a figure, its target and whether the target was met. */
export interface BenchRow {
  metric: string;
  value: string;
  /** What the figure should be (`≥ 2×`); absent for informational figures. */
  target?: string;
  met?: boolean;
  /** The rounds disagreed (the machine was busy): the verdict is not to be trusted. */
  unstable?: boolean;
}

/** What a benchmark hands back to bench/run.ts (through the IPC channel) or prints alone. */
export interface BenchResult {
  name: string;
  rows: BenchRow[];
  notes: string[];
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100) of an ascending-sorted, non-empty list. */
export function percentile(sorted: readonly number[], p: number): number {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** 1234567 → "1,234,567". */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Milliseconds as microseconds with one decimal: 0.1234 → "123.4 µs". */
export function fmtUs(ms: number): string {
  return `${(ms * 1000).toFixed(1)} µs`;
}

/** A Markdown table. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** The summary table of one or more results. */
export function summaryTable(results: readonly BenchResult[]): string {
  const rows = results.flatMap((r) =>
    r.rows.map((row) => [
      r.name,
      row.metric,
      row.value,
      row.target ?? "",
      (row.met === undefined ? "" : row.met ? "yes" : "**no**") +
        (row.unstable === true ? " (unstable run)" : ""),
    ]),
  );
  return markdownTable(["bench", "metric", "value", "target", "met"], rows);
}

/** True when the module at `url` is the script node was started with. */
export function isEntryPoint(url: string): boolean {
  const script = process.argv[1];
  return script !== undefined && pathToFileURL(script).href === url;
}

/** Hands the result to bench/run.ts when it started us, else prints the summary table. */
export async function report(result: BenchResult): Promise<void> {
  const send = process.send?.bind(process);
  if (send !== undefined) {
    await new Promise<void>((resolve, reject) => {
      send(result, undefined, {}, (err: Error | null) => {
        if (err) reject(err);
        else resolve();
      });
    });
    process.disconnect(); // the IPC channel would keep this process alive
    return;
  }
  console.log(`\n${summaryTable([result])}`);
  for (const n of result.notes) console.log(`- ${n}`);
}

/** Reads a positive number from the environment (BENCH_*), for shorter or longer runs. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Forks `script` (a .ts file beside the benches, run through tsx) and resolves with its first IPC
 * message and the child once it sends one; kills it and rejects after 20 s or when it exits first.
 */
export function forkUntilReady(
  script: URL,
  args: string[],
  env: NodeJS.ProcessEnv,
  what: string,
): Promise<{ message: unknown; child: ChildProcess }> {
  const child = fork(fileURLToPath(script), args, { execArgv: ["--import", "tsx"], env, stdio: "inherit" });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${what} did not start within 20 s`));
    }, 20_000);
    child.once("message", (m) => {
      clearTimeout(timer);
      resolve({ message: m, child });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${String(code)}) before it was ready`));
    });
  });
}
