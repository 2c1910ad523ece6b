/**
 * One bootloader session of the flasher: the steps it names in errors, entering the bootloader
 * through RST/BOOT0 and 0x7F, and running exchanges with retries (a resync when the bootloader went
 * quiet mid-packet).
 */
import { CcmError, errorMessage } from "../../errors.js";
import type { LineControl } from "../../lines/line-control.js";
import { BootloaderError, type Stm32Client } from "./protocol.js";

export type FlashStep =
  | "open"
  | "enter-bootloader"
  | "sync"
  | "get"
  | "get-version"
  | "get-id"
  | "check"
  | "erase"
  | "write"
  | "verify"
  | "go"
  | "confirm";

/** An address as 0x0800_0000 prints in messages: 0x08000000. */
export function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** FLASH_FAILED naming the step. */
export function failure(step: FlashStep, message: string, cause?: unknown, extra: object = {}): CcmError {
  const reason = cause === undefined ? "" : `: ${errorMessage(cause)}`;
  return new CcmError("FLASH_FAILED", `flashing failed at step ${step}: ${message}${reason}`, {
    data: { step, ...extra },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Holds NRST low for 20 ms. */
export async function pulseReset(lines: LineControl): Promise<void> {
  await lines.setReset(true);
  await sleep(20);
  await lines.setReset(false);
}

/** BOOT0 high, NRST pulse, then 0x7F until the bootloader answers (re-pulsing up to twice). */
export async function enterBootloader(
  client: Stm32Client,
  lines: LineControl,
  bootDelayMs: number,
  step: (s: FlashStep, detail?: string) => void,
): Promise<void> {
  let lastError: unknown;
  const resets = lines.canReset ? 3 : 1;
  for (let r = 0; r < resets; r++) {
    if (lines.canReset) {
      step("enter-bootloader", lines.spec);
      try {
        await lines.setBoot0(true);
        await pulseReset(lines);
      } catch (e) {
        throw failure("enter-bootloader", `cannot drive RST/BOOT0 (${lines.spec})`, e);
      }
      await sleep(bootDelayMs);
    }
    step("sync");
    for (let i = 0; i < 4; i++) {
      try {
        await client.sync();
        return;
      } catch (e) {
        lastError = e;
        if (e instanceof BootloaderError && e.kind === "closed") throw failure("sync", "the port closed", e);
      }
    }
  }
  throw failure(
    "sync",
    lines.canReset
      ? `the bootloader did not answer 0x7F after ${resets} resets (is BOOT0 wired to ${lines.spec}?)`
      : "the bootloader did not answer 0x7F (with --lines none the target must already be in its bootloader)",
    lastError,
  );
}

/**
 * Runs one exchange, retrying on NACK (the bootloader is back in command wait) and on silence
 * (after a resync). The last failure becomes FLASH_FAILED for `step`.
 */
export async function withRetries<T>(
  step: FlashStep,
  retries: number,
  client: Stm32Client,
  run: () => Promise<T>,
  address?: number,
): Promise<T> {
  let last: unknown;
  for (let attempt = 0; attempt <= retries; attempt++) {
    try {
      return await run();
    } catch (e) {
      last = e;
      if (!(e instanceof BootloaderError) || e.kind === "closed") break;
      if (e.kind !== "nack") await resync(client);
    }
  }
  const where = address === undefined ? "" : ` at ${hex(address)}`;
  throw failure(
    step,
    `no success${where} after ${retries + 1} attempts`,
    last,
    address === undefined ? {} : { address },
  );
}

/**
 * Brings a bootloader stuck mid-packet back to command wait: 0xFF bytes complete whatever it waits
 * for (a checksum that fails, or a command FF FF that is NACKed); then the line is left to go quiet.
 */
export async function resync(client: Stm32Client): Promise<void> {
  for (let i = 0; i < 20; i++) {
    client.reader.discard();
    await client.transport.write(Buffer.alloc(16, 0xff)).catch(() => undefined);
    try {
      await client.reader.read(1, 50);
      break;
    } catch {
      // nothing yet: more 0xFF
    }
  }
  await sleep(50);
  client.reader.discard();
}
