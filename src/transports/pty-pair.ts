/**
 * A virtual null-modem cable: two ptys joined by socat, that can be pulled and reinserted.
 * The demo runs the CCM and its simulated host on one; tests use it as a real serial line.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { constants as fsConstants } from "node:fs";
import { access, rm, stat } from "node:fs/promises";
import { delimiter, join } from "node:path";

const READY_TIMEOUT_MS = 5000;

/** Two pty paths joined by socat, plus controls to pull and reinsert the "cable". */
export interface PtyPair {
  /** Symlink to one end's pty slave. */
  a: string;
  /** Symlink to the other end's pty slave. */
  b: string;
  /** Stops socat (SIGTERM) and waits for it to exit: open ports on a and b see a hangup. Idempotent. */
  kill(): Promise<void>;
  /** Starts socat again with the same link paths (new ptys behind them), as a replugged cable. */
  restart(): Promise<void>;
  /** Freezes socat (SIGSTOP): nothing crosses, and writes block once the ptys' buffers are full. */
  pause(): void;
  /** Lets socat run again (SIGCONT). */
  resume(): void;
}

async function onPath(cmd: string): Promise<boolean> {
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    if (dir === "") continue;
    try {
      await access(join(dir, cmd), fsConstants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.once("exit", () => {
      resolve();
    });
  });
}

/** Starts socat joining two new ptys reachable at the symlinks `a` and `b`. Fails clearly if socat is missing. */
export async function startPtyPair(a: string, b: string): Promise<PtyPair> {
  if (!(await onPath("socat"))) throw new Error("socat is missing: apt-get install -y socat");
  let proc: ChildProcess | undefined;
  const killOnExit = (): void => {
    proc?.kill("SIGKILL");
  };

  const kill = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (p === undefined) return;
    process.off("exit", killOnExit);
    p.kill("SIGTERM");
    p.kill("SIGCONT");
    await exited(p);
  };

  const start = async (): Promise<void> => {
    await rm(a, { force: true });
    await rm(b, { force: true });
    const p = spawn("socat", ["-d", "-d", `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    proc = p;
    process.on("exit", killOnExit);
    let log = "";
    p.stderr.setEncoding("utf8");
    p.stderr.on("data", (s: string) => {
      log = (log + s).slice(-4000);
    });
    let spawnError: Error | undefined;
    p.once("error", (e) => {
      spawnError = e;
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const failure = (): Error | undefined => {
      if (spawnError !== undefined) return new Error(`cannot start socat: ${spawnError.message}`);
      if (p.exitCode !== null || p.signalCode !== null) {
        const how = String(p.exitCode ?? p.signalCode);
        return new Error(`socat exited (${how}) before creating ${a} and ${b}:\n${log}`);
      }
      if (Date.now() > deadline) {
        return new Error(`socat did not create ${a} and ${b} within ${READY_TIMEOUT_MS} ms:\n${log}`);
      }
      return undefined;
    };
    for (;;) {
      if (log.includes("starting data transfer loop") && (await exists(a)) && (await exists(b))) return;
      const err = failure();
      if (err !== undefined) {
        await kill();
        throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  const restart = async (): Promise<void> => {
    await kill();
    await start();
  };

  await start();
  return {
    a,
    b,
    kill,
    restart,
    pause: () => {
      proc?.kill("SIGSTOP");
    },
    resume: () => {
      proc?.kill("SIGCONT");
    },
  };
}
