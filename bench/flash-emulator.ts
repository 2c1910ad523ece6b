/**
 * The emulated STM32 of bench/flash.ts, in its own process so that neither contender shares an event
 * loop with it (stm32flash cannot; ccm's flasher should not): a paced `Stm32Mcu` started in its
 * bootloader (BOOT0 high), behind a `HostSimulator` on end B of a fresh socat pty pair.
 *
 *   node --import tsx bench/flash-emulator.ts CHIP BAUD
 *
 * Sends `{ port }` (end A, for the flasher) over IPC when ready. Asked `{ check: FILE }`, answers
 * whether the flash starts with FILE's bytes, with what the bootloader counted (commands, bytes each
 * way) and what it erased (pages and their erase time as the emulator charges it, mass erases).
 * Exits on SIGTERM or when the parent goes, killing socat and removing the pty directory.
 */
import { readFile, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { ptyPair } from "../test/helpers/socat.js";
import { importCcm } from "./ccm-build.js";

type McuModule = typeof import("../src/sim/stm32/mcu.js");
type SimModule = typeof import("../src/sim/host-simulator.js");

/** What the parent gets back for `{ check }`. */
export interface EmulatorReport {
  /** The flash holds the file's bytes from its base. */
  holdsImage: boolean;
  /** First differing offset, when it does not. */
  firstDiff?: number;
  /** Everything after the image is still 0xFF. */
  restBlank: boolean;
  commands: number;
  nacks: number;
  /** Bytes host → device and device → host as the bootloader counted them. */
  bytesIn: number;
  bytesOut: number;
  pagesErased: number;
  /** Erase time of those pages (and of mass erases), ms, with the emulator's constants. */
  eraseMs: number;
  massErases: number;
}

const chip = Number(process.argv[2] ?? "0x410");
const baud = Number(process.argv[3] ?? "115200");

const { Stm32Mcu } = await importCcm<McuModule>("sim/stm32/mcu");
const { HostSimulator } = await importCcm<SimModule>("sim/host-simulator");

const pair = await ptyPair();
const mcu = new Stm32Mcu({ chip, mode: "bootloader", pacing: true, baud });
const sim = new HostSimulator({ port: pair.b, mcu, bootReport: false, reconnect: false });
let closing = false;
async function shutdown(code: number): Promise<never> {
  if (!closing) {
    closing = true;
    await sim.stop().catch(() => undefined);
    await pair.kill();
    await rm(dirname(pair.a), { recursive: true, force: true });
  }
  process.exit(code);
}
process.once("SIGTERM", () => void shutdown(0));
process.once("disconnect", () => void shutdown(0));

// Count what is erased: the memory's own methods, wrapped (the bootloader calls them).
const erased = { pages: 0, ms: 0, mass: 0 };
const memory = mcu.memory;
const erasePages = memory.erasePages.bind(memory);
memory.erasePages = (pages) => {
  const ok = erasePages(pages);
  if (ok) {
    erased.pages += pages.length;
    erased.ms += pages.reduce((sum, p) => sum + mcu.chip.eraseMs(mcu.chip.pages[p]!), 0);
  }
  return ok;
};
const massErase = memory.massErase.bind(memory);
memory.massErase = () => {
  massErase();
  erased.mass++;
  erased.ms += mcu.chip.massEraseMs;
};
// The bootloader that runs from the start; it keeps its counters after a Go stops it.
const bootloader = mcu.bootloader;
if (bootloader === undefined) throw new Error("the emulated STM32 did not start in its bootloader");
await sim.start();

process.on("message", (m) => {
  void (async () => {
    const { check } = m as { check: string };
    const image = await readFile(check);
    const flash = memory.flash;
    let firstDiff: number | undefined;
    for (let i = 0; i < image.length; i++) {
      if (flash[i] !== image[i]) {
        firstDiff = i;
        break;
      }
    }
    const report: EmulatorReport = {
      holdsImage: firstDiff === undefined,
      ...(firstDiff === undefined ? {} : { firstDiff }),
      restBlank: flash.subarray(image.length).every((b) => b === 0xff),
      ...bootloader.stats,
      pagesErased: erased.pages,
      eraseMs: erased.ms,
      massErases: erased.mass,
    };
    process.send?.(report);
  })();
});
process.send?.({ port: pair.a });
