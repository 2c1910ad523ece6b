/**
 * Test helpers for STM32 flashing: a simulated host with an emulated STM32 on one end of a socat pty
 * pair (its RST/BOOT0 served as `sim` lines), and Debian's stm32flash as an oracle on the other end.
 */
import { execFile } from "node:child_process";
import type { TestContext } from "node:test";
import { HostSimulator } from "../../src/sim/host-simulator.js";
import { listenSimLines, type SimLinesServer } from "../../src/sim/stm32/lines-server.js";
import { Stm32Mcu, type Stm32McuOptions } from "../../src/sim/stm32/mcu.js";
import { ptyPair, type PtyPair } from "./socat.js";

export interface Emulator {
  pair: PtyPair;
  /** The end the flasher (or stm32flash) opens. */
  port: string;
  mcu: Stm32Mcu;
  sim: HostSimulator;
  lines: SimLinesServer;
  /** `sim:ADDR` for --lines. */
  linesSpec: string;
}

/** An emulated STM32 (unpaced unless asked) behind a simulated host on a fresh pty pair; stopped after the test. */
export async function startEmulator(t: TestContext, options: Stm32McuOptions = {}): Promise<Emulator> {
  const pair = await ptyPair(t);
  const mcu = new Stm32Mcu({ pacing: false, ...options });
  const sim = new HostSimulator({ port: pair.b, mcu, bootReport: false });
  await sim.start();
  const lines = await listenSimLines(mcu, "127.0.0.1:0");
  t.after(async () => {
    await lines.close();
    await sim.stop();
  });
  return { pair, port: pair.a, mcu, sim, lines, linesSpec: `sim:${lines.address}` };
}

/** What the emulated part did while a test watched: the pages it erased, and its visits to the bootloader. */
export interface FlashWatch {
  erased: number[];
  bootloaderVisits: () => number;
}

/** Records every page the emulated flash erases (by page erase) and every start of the bootloader. */
export function watchFlash(emu: Emulator): FlashWatch {
  const erased: number[] = [];
  let visits = 0;
  const memory = emu.mcu.memory;
  const erasePages = memory.erasePages.bind(memory);
  memory.erasePages = (pages) => {
    erased.push(...pages);
    return erasePages(pages);
  };
  emu.mcu.on("personality", (p) => {
    if (p === "bootloader") visits++;
  });
  return { erased, bootloaderVisits: () => visits };
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs Debian's stm32flash (8N1: a pty cannot carry parity, and stm32flash refuses 8E1 on one). */
export function stm32flash(args: string[], timeoutMs = 60_000): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(
      "stm32flash",
      ["-m", "8n1", "-b", "115200", ...args],
      { timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== "number") {
          reject(new Error(`cannot run stm32flash: ${err.message}`));
          return;
        }
        resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
      },
    );
  });
}
