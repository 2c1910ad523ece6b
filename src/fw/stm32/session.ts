/**
 * One bootloader session of the flasher: the steps it names in errors, entering the bootloader
 * through RST/BOOT0 and 0x7F, and exchanges retried after a failure once the bootloader is back in
 * command wait: resynchronised with 0xFF bytes (reference stm32-ota.md §1.4 (a)), or, when it stays
 * silent and the lines can reset it, through a fresh reset into the bootloader (§1.4 (b)).
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

/** What a session needs besides its client and lines. */
export interface SessionOptions {
  /** Retries of a failed exchange. */
  retries: number;
  /** ms from NRST release to the first 0x7F. */
  bootDelayMs: number;
  onStep?: ((step: FlashStep, detail: string) => void) | undefined;
}

/** The flasher's conversation with one bootloader. */
export class FlashSession {
  readonly client: Stm32Client;
  readonly lines: LineControl;
  readonly retries: number;
  private readonly options: SessionOptions;

  constructor(client: Stm32Client, lines: LineControl, options: SessionOptions) {
    this.client = client;
    this.lines = lines;
    this.retries = options.retries;
    this.options = options;
  }

  /** Reports a step as it starts. */
  step(step: FlashStep, detail = ""): void {
    this.options.onStep?.(step, detail);
  }

  /** BOOT0 high, NRST pulse, then 0x7F until the bootloader answers (re-pulsing up to twice). */
  async enter(): Promise<void> {
    const { client, lines } = this;
    let lastError: unknown;
    const resets = lines.canReset ? 3 : 1;
    for (let r = 0; r < resets; r++) {
      if (lines.canReset) {
        this.step("enter-bootloader", lines.spec);
        try {
          await lines.setBoot0(true);
          await pulseReset(lines);
        } catch (e) {
          throw failure("enter-bootloader", `cannot drive RST/BOOT0 (${lines.spec})`, e);
        }
        await sleep(this.options.bootDelayMs);
      }
      this.step("sync");
      for (let i = 0; i < 4; i++) {
        try {
          await client.sync();
          return;
        } catch (e) {
          lastError = e;
          if (isClosed(e)) throw failure("sync", "the port closed", e);
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
   * Runs one exchange; after a failure brings the bootloader back to command wait and tries again,
   * `retries` times. The last failure becomes FLASH_FAILED for `step` (with `address` in its data).
   */
  async exchange<T>(step: FlashStep, run: () => Promise<T>, address?: number): Promise<T> {
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        return await run();
      } catch (e) {
        if (!retriable(e) || attempts > this.retries) {
          throw this.gaveUp(step, attempts, e, address);
        }
        try {
          await this.recover();
        } catch (r) {
          throw this.gaveUp(step, attempts, r, address);
        }
      }
    }
  }

  /**
   * Brings the bootloader back to command wait with nothing half-received: a resync, or, when it
   * stays silent and the lines can reset it, a reset into the bootloader.
   */
  async recover(): Promise<void> {
    if (await resync(this.client)) return;
    if (!this.lines.canReset) return;
    this.step("enter-bootloader", "the bootloader went silent: resetting it");
    await this.enter();
  }

  /** FLASH_FAILED for `step` after `attempts` tries, the last failing with `cause`. */
  gaveUp(step: FlashStep, attempts: number, cause: unknown, address?: number): CcmError {
    const where = address === undefined ? "" : ` at ${hex(address)}`;
    const tries = attempts === 1 ? "1 attempt" : `${attempts} attempts`;
    return failure(
      step,
      `no success${where} after ${tries}`,
      cause,
      address === undefined ? {} : { address },
    );
  }
}

/** A failure the bootloader may get over: anything but a closed port or a bug. */
export function retriable(e: unknown): e is BootloaderError {
  return e instanceof BootloaderError && e.kind !== "closed";
}

function isClosed(e: unknown): boolean {
  return e instanceof BootloaderError && e.kind === "closed";
}

/** Resolves true when a byte arrives within `ms` (and takes it), false when none does. */
async function heard(client: Stm32Client, ms: number): Promise<boolean> {
  try {
    await client.reader.read(1, ms);
    return true;
  } catch (e) {
    if (isClosed(e)) throw e;
    return false;
  }
}

/** Takes what arrives until the line has been quiet for `ms` (at most 100 bytes). */
async function drain(client: Stm32Client, ms: number): Promise<void> {
  for (let i = 0; i < 100 && (await heard(client, ms)); i++);
  client.reader.discard();
}

/**
 * How long the line must stay quiet before resync() takes it that every answer to its 0xFF bytes is
 * in, and how long it waits for the answer to one 0xFF. An answer taken for silence misaligns the
 * command buffer by a byte (the next command is NACKed), so these are generous: they are only spent
 * on recovery, and a loaded machine can hold a byte back for tens of milliseconds.
 */
const QUIET_MS = 120;
const ANSWER_MS = 250;

/**
 * Brings a bootloader stuck mid-packet back to command wait with an empty command buffer: bursts of
 * 0xFF complete whatever packet it waits for (Write Memory's up to 258 bytes; a checksum fails or the
 * command FF FF is NACKed). Once it answers and the line is quiet, at most one byte of a command can
 * be pending: one 0xFF more answers at once when it was, a second one when it was not. Resolves
 * false when the bootloader never answered (stalled, reset, or not there).
 */
export async function resync(client: Stm32Client): Promise<boolean> {
  const write = (n: number): Promise<void> =>
    client.transport.write(Buffer.alloc(n, 0xff)).catch(() => undefined);
  let answered = false;
  for (let i = 0; i < 20 && !answered; i++) {
    client.reader.discard();
    await write(16);
    answered = await heard(client, 50);
  }
  if (!answered) return false;
  await drain(client, QUIET_MS);
  for (let i = 0; i < 2; i++) {
    await write(1);
    if (await heard(client, ANSWER_MS)) break;
  }
  await drain(client, QUIET_MS);
  return true;
}
