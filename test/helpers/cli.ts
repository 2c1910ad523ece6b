/** Runs the `ccm` CLI from source as a child process, as a user would run it. */
import { spawn, type ChildProcess } from "node:child_process";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `ccm ...args` to completion (killed after `timeoutMs`). */
export function runCli(args: string[], timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts `ccm ...args` (with `env` added to the environment) and leaves it running; the caller stops it. */
export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", main, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, MOS_PORT: "", CCM_PORT: "", ...env },
  });
}

/** A running `ccm start` whose log (stderr) the test reads. */
export interface RunningCcm {
  child: ChildProcess;
  /** Everything it logged so far. */
  log(): string;
  /**
   * `http://127.0.0.1:PORT` of its HTTP server as last logged (a restart of the components takes a
   * new free port); empty before it listens.
   */
  httpUrl(): string;
  /** Sends SIGKILL and waits for the process to be gone. */
  kill(): Promise<void>;
}

/**
 * Starts `ccm start ...args` (HTTP on a free port, a fast host probe), with `env` added to its
 * environment; killed after the test.
 */
export function startCcm(t: TestContext, args: string[], env: Record<string, string> = {}): RunningCcm {
  const child = spawnCli(
    ["start", "--http-listen", "127.0.0.1:0", "--set", "host.probe_ms=300", ...args],
    env,
  );
  let log = "";
  child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  const httpUrl = (): string =>
    [...log.matchAll(/RPC over HTTP and WebSocket on (http:\/\/[\d.]+:\d+)\/rpc/g)].at(-1)?.[1] ?? "";
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await gone;
  };
  t.after(kill);
  return { child, log: () => log, httpUrl, kill };
}
