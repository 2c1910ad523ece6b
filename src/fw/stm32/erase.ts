/**
 * How the flasher erases the pages an image covers (reference stm32-ota.md §1.3, §7 step 6): page
 * lists in batches the command can carry, or, when Erase (0x43) cannot number a page (its page
 * numbers are one byte, so page 256 of an XL-density F1 would go out as page 0), one global erase
 * (`FF 00`), as the bootloader offers nothing else for those pages; an image that covers every page
 * is erased with one mass erase too, page by page when the bootloader refuses it.
 */
import { eraseMaxMs, type FlashPage } from "./devices.js";

/**
 * Pages in batches, or the whole flash at once and why; `fallback`: the batches to erase instead
 * when the bootloader refuses the mass erase (L0/L1 have none), where page erase can do the job.
 */
export type ErasePlan =
  { mass: false; batches: FlashPage[][] } | { mass: true; reason: string; fallback?: FlashPage[][] };

/** Batches of Erase (≤ 255 pages, numbers ≤ 255) or Extended Erase (≤ 500 pages, as stm32flash splits). */
export function planErase(pages: readonly FlashPage[], code: 0x43 | 0x44, total: number): ErasePlan {
  const beyond = code === 0x43 ? pages.find((p) => p.index > 0xff) : undefined;
  if (beyond !== undefined) {
    return {
      mass: true,
      reason: `Erase (0x43) numbers pages in one byte and page ${beyond.index} is past 255`,
    };
  }
  const size = code === 0x43 ? 255 : 500;
  const batches: FlashPage[][] = [];
  for (let i = 0; i < pages.length; i += size) batches.push(pages.slice(i, i + size));
  // An image that covers every page: one mass erase does the same in the time of about one page
  // (F1 HD: 256 × 20–40 ms become 20–40 ms), as stm32flash does.
  if (pages.length > 1 && pages.length === total)
    return { mass: true, reason: "the image covers every page", fallback: batches };
  return { mass: false, batches };
}

/** How long the ACK of erasing `pages` may take: each page's worst case and a second. */
export function eraseTimeoutMs(pages: readonly FlashPage[]): number {
  return 1000 + pages.reduce((sum, p) => sum + eraseMaxMs(p.size), 0);
}

/** stm32flash's mass-erase timeout (35 s), or more for a flash whose pages take longer. */
export function massEraseTimeoutMs(all: readonly FlashPage[]): number {
  return Math.max(35_000, eraseTimeoutMs(all));
}
