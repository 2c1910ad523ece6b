/**
 * Flashes an STM32 host through its ROM bootloader (AN3155), the way reference stm32-ota.md §7 lays
 * it out: BOOT0 high and an NRST pulse, sync with 0x7F, Get / Get Version / Get ID, erase only the
 * pages the image covers (Erase or Extended Erase, whichever Get lists; the whole flash when Erase
 * cannot number a page: erase.ts), write 256-byte blocks, verify by reading back, BOOT0 low and Go,
 * then give the port back at the host's speed and 8N1 and (optionally) wait for the application to
 * answer Sys.Info. An image in several parts is flashed in the same one session (image-plan.ts).
 *
 * Every failure is a CcmError FLASH_FAILED (or BAD_ARGUMENT for an image that cannot fit) whose
 * `data.step` names the step; a NACKed or unanswered block is retried, after a resync when the
 * bootloader went quiet.
 */
import { errorMessage } from "../../errors.js";
import { NoLines, type LineControl } from "../../lines/line-control.js";
import { createTransport } from "../../transports/open.js";
import type { ByteTransport } from "../../transports/transport.js";
import { probeSysInfo } from "./confirm.js";
import { deviceByPid, pagesOf, withFlashSize, type Stm32Device } from "./devices.js";
import { checkParts, placement, planParts, type ImagePart } from "./image-plan.js";
import { erasePages, verifyBlocks, writeBlocks, type FlashProgress, type ProgramContext } from "./program.js";
import { BootloaderError, Stm32Client } from "./protocol.js";
import { FlashSession, failure, hex, pulseReset, type FlashStep } from "./session.js";

export { coveredPages } from "./image-plan.js";
export type { ImagePart } from "./image-plan.js";
export { probeSysInfo } from "./confirm.js";
export type { FlashStep } from "./session.js";
export type { FlashProgress } from "./program.js";

/** What to flash: one image at `address`, or `parts`, each at its own address (one session for all). */
export type FlashImage =
  | {
      image: Uint8Array;
      /** Where the image goes (default 0x0800_0000); must be the start of a flash page. */
      address?: number;
      parts?: never;
    }
  | { parts: readonly ImagePart[]; image?: never; address?: never };

export type FlashOptions = FlashImage & {
  /** The host's UART: a transport (opened or not) or a path opened here. */
  port: ByteTransport | string;
  /** Bootloader speed (default 115200; AN3155 tests up to 115200). */
  baud?: number;
  /** The application's speed to leave the port at (default: baud). */
  appBaud?: number;
  /** RST/BOOT0; default none (the target is already in its bootloader). */
  lines?: LineControl;
  /** Where Go starts the application (default: the image's, or the lowest part's, address). */
  goAddress?: number;
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
};

export interface FlashResult {
  pid: number;
  device: string;
  bootloaderVersion: number;
  eraseCommand: 0x43 | 0x44;
  pagesErased: number;
  /** The whole flash was erased at once (Erase 0x43 cannot number a page the image covers). */
  massErase: boolean;
  /** The bytes of the image (all its parts). */
  bytesWritten: number;
  /** 256-byte blocks left unsent because they are all 0xFF (erased flash holds that); verified all the same. */
  blankBlocks: number;
  /** How many parts were flashed (1 for an image). */
  parts: number;
  verified: boolean;
  durationMs: number;
  /** What `confirm` returned (Sys.Info's result). */
  confirmed?: unknown;
}

/** Flashes `image` at `address` (or `parts`); resolves with what was done, rejects with a CcmError naming the step. */
export async function flashStm32(options: FlashOptions): Promise<FlashResult> {
  const t0 = performance.now();
  const baud = options.baud ?? 115200;
  const appBaud = options.appBaud ?? baud;
  const lines: LineControl = options.lines ?? new NoLines();
  // Empty or overlapping parts are refused before the port is opened.
  const parts = checkParts(
    options.parts ?? [{ name: "image", address: options.address ?? 0x0800_0000, data: options.image }],
  );
  const retries = options.retries ?? 5;
  const verify = options.verify ?? true;
  const step = (s: FlashStep, detail = ""): void => {
    options.onStep?.(s, detail);
  };
  const checkAbort = (s: FlashStep): void => {
    if (options.signal?.aborted === true) throw failure(s, "aborted", undefined, { aborted: true });
  };
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
  const session = new FlashSession(client, lines, {
    retries,
    bootDelayMs: options.bootDelayMs ?? 100,
    onStep: options.onStep,
  });
  let touched = false;
  let atAppSettings = false;
  try {
    await session.enter();

    step("get");
    const info = await session.exchange("get", () => client.get());
    const eraseCommand = info.commands.includes(0x44)
      ? 0x44
      : info.commands.includes(0x43)
        ? 0x43
        : undefined;
    if (eraseCommand === undefined)
      throw failure("get", "the bootloader offers neither Erase nor Extended Erase");
    step("get-version");
    const version = await session.exchange("get-version", () => client.getVersion());
    step("get-id");
    const pid = await session.exchange("get-id", () => client.getId());
    const device = deviceByPid(pid);
    if (device === undefined) throw failure("get-id", `unknown STM32 product id 0x${pid.toString(16)}`);
    step("get-id", `${device.name} (0x${pid.toString(16)}), bootloader v${version >> 4}.${version & 15}`);

    step("check");
    const sized = await measure(session, device);
    const plan = planParts(sized, parts);

    const ctx: ProgramContext = {
      session,
      eraseCommand,
      allPages: pagesOf(sized),
      onProgress: options.onProgress,
      checkAbort,
    };
    touched = true;
    const erase = await erasePages(ctx, plan.pages);
    step("write", `${plan.bytes} bytes at ${placement(parts)}`);
    const blankBlocks = await writeBlocks(ctx, plan.blocks);
    if (verify) {
      step("verify");
      await verifyBlocks(ctx, plan.blocks);
    }

    const go = options.goAddress ?? plan.start;
    step("go", hex(go));
    await lines.setBoot0(false);
    await session.exchange("go", () => client.go(go));
    client.dispose();
    try {
      atAppSettings = true;
      await transport.update?.({ baudRate: appBaud, parity: "none" });
    } catch (e) {
      throw failure("go", `cannot set ${transport.path} back to ${appBaud} 8N1`, e);
    }

    const result: FlashResult = {
      pid,
      device: device.name,
      bootloaderVersion: version,
      eraseCommand,
      pagesErased: erase.erased,
      massErase: erase.mass,
      bytesWritten: plan.bytes,
      blankBlocks,
      parts: parts.length,
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
    // A port the caller lent goes back at the application's speed and 8N1 whatever happened.
    else if (!atAppSettings)
      await transport.update?.({ baudRate: appBaud, parity: "none" }).catch(() => undefined);
  }
}

/**
 * The part as its flash size register says it is (reference §1.6, §7 step 4), or the family's
 * maximum when the register is refused (read protection, some bootloaders) or holds no size.
 */
async function measure(session: FlashSession, device: Stm32Device): Promise<Stm32Device> {
  if (device.flashSizeAddress === undefined) return device;
  const step = session.step.bind(session);
  let why: string;
  try {
    const kib = (await session.client.readMemory(device.flashSizeAddress, 2)).readUInt16LE(0);
    const sized = withFlashSize(device, kib);
    if (sized !== undefined) {
      step("check", `${kib} KiB of flash by its flash size register`);
      return sized;
    }
    why = `says ${kib} KiB`;
  } catch (e) {
    if (e instanceof BootloaderError && e.kind === "closed") throw failure("check", "the port closed", e);
    await session.recover();
    why = `could not be read (${errorMessage(e)})`;
  }
  const kib = (device.flashEnd - device.flashStart) / 1024;
  step("check", `the flash size register ${why}: assuming the family's ${kib} KiB`);
  return device;
}
