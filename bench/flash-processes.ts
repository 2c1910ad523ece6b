/**
 * The processes bench/flash.ts runs: a fresh emulator (bench/flash-emulator.ts) per flash, asked
 * afterwards what its flash holds, and Debian's stm32flash.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { EmulatorReport } from "./flash-emulator.js";
import { forkUntilReady } from "./util.js";

export const BAUD = 115200;

/** A fresh paced emulator in its own process; resolves once its pty is up. */
export async function startEmulator(
  chip: number,
  env: NodeJS.ProcessEnv,
): Promise<{ port: string; child: ChildProcess }> {
  const script = new URL("./flash-emulator.ts", import.meta.url);
  const { message, child } = await forkUntilReady(script, [String(chip), String(BAUD)], env, "the emulator");
  return { port: (message as { port: string }).port, child };
}

/** Asks the emulator what its flash holds and what it counted, then stops it. */
export async function checkAndStop(child: ChildProcess, file: string): Promise<EmulatorReport> {
  try {
    return await new Promise<EmulatorReport>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error("the emulator did not answer the flash check"));
      }, 10_000);
      child.once("message", (m) => {
        clearTimeout(timer);
        resolve(m as EmulatorReport);
      });
      child.send({ check: file });
    });
  } finally {
    await stopChild(child);
  }
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      resolve();
    });
  });
  child.kill("SIGTERM");
  const timer = setTimeout(() => {
    child.kill("SIGKILL");
  }, 5000);
  await exited;
  clearTimeout(timer);
}

/** Runs stm32flash; rejects when it fails or outlives `timeoutMs` (it is killed then). */
export function runStm32flash(port: string, file: string, timeoutMs: number): Promise<void> {
  const args = ["-m", "8n1", "-b", String(BAUD), "-v", "-w", file, port];
  return new Promise((resolve, reject) => {
    const child = spawn("stm32flash", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const keep = (b: Buffer): void => {
      out = (out + b.toString("latin1")).slice(-2000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
    }, timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run stm32flash (apt-get install stm32flash): ${e.message}`));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `stm32flash ${args.join(" ")} ${signal === null ? `exited ${String(code)}` : `killed (${signal}) after ${timeoutMs} ms`}:\n${out.replaceAll("\r", "\n").slice(-600)}`,
          ),
        );
    });
  });
}
