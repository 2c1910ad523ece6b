/**
 * Flashes an STM32 host through its ROM bootloader (AN3155), the way reference stm32-ota.md §7 lays
 * it out: BOOT0 high and an NRST pulse, sync with 0x7F, Get / Get Version / Get ID, erase only the
 * pages the image covers (Erase or Extended Erase, whichever Get lists; one mass erase when it
 * covers them all), write 256-byte blocks, verify by reading back, BOOT0 low and Go, then give the
 * port back at the host's speed and 8N1 and (optionally) wait for the application to answer Sys.Info.
 *
 * Every failure is a CcmError FLASH_FAILED (or BAD_ARGUMENT for an image that cannot fit) whose
 * `data.step` names the step; a NACKed or unanswered block is retried, after a resync when the
 * bootloader went quiet.
 */
import { CcmError, errorMessage } from "../../errors.js";
import { NoLines, type LineControl } from "../../lines/line-control.js";
import { createTransport } from "../../transports/open.js";
import type { ByteTransport } from "../../transports/transport.js";
import { deviceByPid, eraseMaxMs, pagesOf, type FlashPage, type Stm32Device } from "./devices.js";
import { BootloaderError, Stm32Client } from "./protocol.js";

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

/** Progress of the long steps: pages for erase, bytes for write and verify. */
export interface FlashProgress {
  step: "erase" | "write" | "verify";
  done: number;
  total: number;
}

export interface FlashOptions {
  /** The host's UART: a transport (opened or not) or a path opened here. */
  port: ByteTransport | string;
  /** Bootloader speed (default 115200; AN3155 tests up to 115200). */
  baud?: number;
  /** The application's speed to leave the port at (default: baud). */
  appBaud?: number;
  /** RST/BOOT0; default none (the target is already in its bootloader). */
  lines?: LineControl;
  image: Uint8Array;
  /** Where the image goes (default 0x0800_0000); must be the start of a flash page. */
  address?: number;
  /** Read every block back and compare (default true). */
  verify?: boolean;
  /** Retries of a NACKed or unanswered command (default 5). */
  retries?: number;
  onProgress?: (p: FlashProgress) => void;
  /** Logs each step as it starts. */
  onStep?: (step: FlashStep, detail: string) => void;
  signal?: AbortSignal;
  /**
   * After Go: true waits for the application to answer Sys.Info (a JSON-RPC call on the port at
   * appBaud, 8N1); a function does its own check. Its result lands in `FlashResult.confirmed`.
   */
  confirm?: boolean | ((port: ByteTransport) => Promise<unknown>);
  /** How long the application may take to answer after Go (default 5000 ms). */
  confirmTimeoutMs?: number;
  /** ms from NRST release to the first 0x7F (default 100; AN2606 start-up is ≤ 54 ms). */
  bootDelayMs?: number;
}

export interface FlashResult {
  pid: number;
  device: string;
  bootloaderVersion: number;
  eraseCommand: 0x43 | 0x44;
  pagesErased: number;
  /** The pages were erased with one mass erase (the image covers the whole flash). */
  massErase: boolean;
  bytesWritten: number;
  verified: boolean;
  durationMs: number;
  /** What `confirm` returned (Sys.Info's result). */
  confirmed?: unknown;
}

const BLOCK = 256;

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** FLASH_FAILED naming the step. */
function failure(step: FlashStep, message: string, cause?: unknown, extra: object = {}): CcmError {
  const reason = cause === undefined ? "" : `: ${errorMessage(cause)}`;
  return new CcmError("FLASH_FAILED", `flashing failed at step ${step}: ${message}${reason}`, {
    data: { step, ...extra },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Flashes `image` at `address`; resolves with what was done, rejects with a CcmError naming the step. */
export async function flashStm32(options: FlashOptions): Promise<FlashResult> {
  const t0 = performance.now();
  const baud = options.baud ?? 115200;
  const appBaud = options.appBaud ?? baud;
  const lines: LineControl = options.lines ?? new NoLines();
  const address = options.address ?? 0x0800_0000;
  const image = Buffer.from(options.image);
  const retries = options.retries ?? 5;
  const verify = options.verify ?? true;
  const step = (s: FlashStep, detail = ""): void => {
    options.onStep?.(s, detail);
  };
  const checkAbort = (s: FlashStep): void => {
    if (options.signal?.aborted === true) throw failure(s, "aborted", undefined, { aborted: true });
  };
  if (image.length === 0)
    throw new CcmError("BAD_ARGUMENT", "the firmware image is empty", { data: { step: "check" } });

  step("open", typeof options.port === "string" ? options.port : options.port.path);
  const own = typeof options.port === "string";
  const transport =
    typeof options.port === "string"
      ? createTransport(options.port, { baudRate: baud, parity: "even" })
      : options.port;
  try {
    if (!transport.isOpen) await transport.open();
    else await transport.update?.({ baudRate: baud, parity: "even" });
  } catch (e) {
    throw failure("open", `cannot open ${transport.path}`, e);
  }
  lines.attach?.(transport);
  const client = new Stm32Client(transport, baud);
  let touched = false;
  let massErased = false;
  try {
    await enterBootloader(client, lines, options.bootDelayMs ?? 100, step);

    step("get");
    const info = await withRetries("get", retries, client, () => client.get());
    const eraseCommand = info.commands.includes(0x44)
      ? 0x44
      : info.commands.includes(0x43)
        ? 0x43
        : undefined;
    if (eraseCommand === undefined)
      throw failure("get", "the bootloader offers neither Erase nor Extended Erase");
    step("get-version");
    const version = await withRetries("get-version", retries, client, () => client.getVersion());
    step("get-id");
    const pid = await withRetries("get-id", retries, client, () => client.getId());
    const device = deviceByPid(pid);
    if (device === undefined) throw failure("get-id", `unknown STM32 product id 0x${pid.toString(16)}`);
    step("get-id", `${device.name} (0x${pid.toString(16)}), bootloader v${version >> 4}.${version & 15}`);

    step("check");
    const pages = coveredPages(device, address, image.length);

    const eraseName = eraseCommand === 0x44 ? "Extended Erase" : "Erase";
    // An image that covers every page is erased with one mass erase, as stm32flash does: the same
    // pages, in the time of about one (F1: 20–40 ms instead of 20–40 ms per page).
    const whole = pages.length === pagesOf(device).length;
    step("erase", `${pages.length} pages with ${whole ? `a mass erase (${eraseName})` : eraseName}`);
    touched = true;
    let erased = 0;
    options.onProgress?.({ step: "erase", done: 0, total: pages.length });
    if (whole) {
      checkAbort("erase");
      const ackMs = 1000 + pages.reduce((sum, p) => sum + eraseMaxMs(p.size), 0);
      try {
        await withRetries("erase", 0, client, () => client.massErase(eraseCommand, ackMs));
        erased = pages.length;
        massErased = true;
        options.onProgress?.({ step: "erase", done: erased, total: pages.length });
      } catch {
        // A bootloader that refuses mass erase (L0/L1 have none): erase page by page below.
      }
    }
    const chunk = eraseCommand === 0x43 ? 255 : 500;
    for (let i = erased; i < pages.length; i += chunk) {
      checkAbort("erase");
      const part = pages.slice(i, i + chunk);
      const ackMs = 1000 + part.reduce((sum, p) => sum + eraseMaxMs(p.size), 0);
      await withRetries("erase", retries, client, () =>
        client.erase(
          eraseCommand,
          part.map((p) => p.index),
          ackMs,
        ),
      );
      erased += part.length;
      options.onProgress?.({ step: "erase", done: erased, total: pages.length });
    }

    step("write", `${image.length} bytes at ${hex(address)}`);
    for (let off = 0; off < image.length; off += BLOCK) {
      checkAbort("write");
      const block = image.subarray(off, off + BLOCK);
      await withRetries(
        "write",
        retries,
        client,
        () => client.writeMemory(address + off, block),
        address + off,
      );
      options.onProgress?.({ step: "write", done: Math.min(off + BLOCK, image.length), total: image.length });
    }

    if (verify) {
      step("verify");
      for (let off = 0; off < image.length; off += BLOCK) {
        checkAbort("verify");
        const want = image.subarray(off, off + BLOCK);
        const got = await withRetries(
          "verify",
          retries,
          client,
          () => client.readMemory(address + off, want.length),
          address + off,
        );
        if (!got.equals(want)) {
          let at = 0;
          while (got[at] === want[at]) at++;
          throw failure(
            "verify",
            `flash at ${hex(address + off + at)} does not hold what was written`,
            undefined,
            {
              address: address + off + at,
            },
          );
        }
        options.onProgress?.({
          step: "verify",
          done: Math.min(off + BLOCK, image.length),
          total: image.length,
        });
      }
    }

    step("go", hex(address));
    await lines.setBoot0(false);
    await withRetries("go", retries, client, () => client.go(address));
    client.dispose();
    try {
      await transport.update?.({ baudRate: appBaud, parity: "none" });
    } catch (e) {
      throw failure("go", `cannot set ${transport.path} back to ${appBaud} 8N1`, e);
    }

    const result: FlashResult = {
      pid,
      device: device.name,
      bootloaderVersion: version,
      eraseCommand,
      pagesErased: pages.length,
      massErase: massErased,
      bytesWritten: image.length,
      verified: verify,
      durationMs: 0,
    };
    if (options.confirm !== undefined && options.confirm !== false) {
      step("confirm");
      const check =
        options.confirm === true
          ? (port: ByteTransport) => probeSysInfo(port, options.confirmTimeoutMs ?? 5000)
          : options.confirm;
      try {
        result.confirmed = await check(transport);
      } catch (e) {
        throw failure("confirm", "the host did not answer after Go", e);
      }
    }
    result.durationMs = performance.now() - t0;
    return result;
  } catch (e) {
    if (!touched && lines.canReset) {
      // Nothing was erased: let the old application run again.
      await lines.setBoot0(false).catch(() => undefined);
      await pulseReset(lines).catch(() => undefined);
    }
    throw e;
  } finally {
    client.dispose();
    if (own) await transport.close().catch(() => undefined);
  }
}

/** The erase units [address, address + length) covers; BAD_ARGUMENT when it does not start a page or does not fit. */
export function coveredPages(device: Stm32Device, address: number, length: number): FlashPage[] {
  const all = pagesOf(device);
  const size = device.flashEnd - device.flashStart;
  const bad = (message: string): CcmError =>
    new CcmError("BAD_ARGUMENT", message, { data: { step: "check" } });
  if (address < device.flashStart || address >= device.flashEnd) {
    throw bad(
      `address ${hex(address)} is outside the flash of ${device.name} (${hex(device.flashStart)}–${hex(device.flashEnd)})`,
    );
  }
  const first = all.find((p) => p.start <= address && address < p.start + p.size)!;
  if (first.start !== address) {
    throw bad(
      `address ${hex(address)} is not page-aligned: page ${first.index} of ${device.name} starts at ${hex(first.start)} (${first.size} bytes)`,
    );
  }
  const end = address + length;
  if (end > device.flashEnd) {
    throw bad(
      `the image is too large: ${length} bytes at ${hex(address)} end at ${hex(end)}, past the end of the ${size / 1024} KiB flash of ${device.name} (${hex(device.flashEnd)})`,
    );
  }
  return all.filter((p) => p.start + p.size > address && p.start < end);
}

async function pulseReset(lines: LineControl): Promise<void> {
  await lines.setReset(true);
  await sleep(20);
  await lines.setReset(false);
}

/** BOOT0 high, NRST pulse, then 0x7F until the bootloader answers (re-pulsing up to twice). */
async function enterBootloader(
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
async function withRetries<T>(
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
async function resync(client: Stm32Client): Promise<void> {
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

/**
 * Calls Sys.Info on the application until it answers (a JSON-RPC line on the port), retrying every
 * 500 ms for `timeoutMs`. Resolves with the result.
 */
export async function probeSysInfo(port: ByteTransport, timeoutMs: number): Promise<unknown> {
  const id = 0x5700_0000 + Math.floor(Math.random() * 0xffff);
  let text = "";
  let done: ((v: unknown) => void) | undefined;
  const answered = new Promise<unknown>((resolve) => {
    done = resolve;
  });
  const onData = (chunk: Buffer): void => {
    text += chunk.toString("latin1");
    let nl: number;
    while ((nl = text.indexOf("\n")) >= 0) {
      const line = text.slice(0, nl).trim();
      text = text.slice(nl + 1);
      if (!line.startsWith("{")) continue;
      try {
        const frame = JSON.parse(line) as { id?: unknown; result?: unknown };
        if (frame.id === id && "result" in frame) done?.(frame.result);
      } catch {
        // log output or noise
      }
    }
    if (text.length > 65536) text = "";
  };
  port.on("data", onData);
  const deadline = performance.now() + timeoutMs;
  try {
    while (performance.now() < deadline) {
      await port.write(`${JSON.stringify({ id, method: "Sys.Info" })}\n`);
      const wait = Math.min(500, deadline - performance.now());
      const result = await Promise.race([answered, sleep(wait).then(() => undefined)]);
      if (result !== undefined) return result;
    }
    throw new CcmError("RPC_TIMEOUT", `no answer to Sys.Info on ${port.path} within ${timeoutMs} ms`);
  } finally {
    port.off("data", onData);
  }
}
