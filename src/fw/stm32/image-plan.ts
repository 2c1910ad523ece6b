/**
 * Where an image goes in an STM32's flash: the erase units (pages or sectors) it covers, and the
 * Write Memory blocks that put it there.
 *
 * An image may come in several parts (a bundle made from an Intel HEX with gaps: `host_fw`,
 * `host_fw_1`, …), flashed in one session (reference stm32-ota.md §7 step 1). The lowest part starts
 * a page; a later part may start anywhere after it, at any byte. Each page any part touches is erased
 * once, whole: bytes of a page that no part holds end up erased (0xFF), as stm32flash leaves the gaps
 * of a .hex. Blocks are written at 256-aligned addresses, one per 256 bytes of flash, 0xFF where no
 * part has a byte (§1.6's safe rule: parts that program 8- to 32-byte flash words with ECC never
 * have a word written twice, even where two parts meet).
 */
import { CcmError } from "../../errors.js";
import { pagesOf, type FlashPage, type Stm32Device } from "./devices.js";
import { hex } from "./session.js";

/** One part of an image: its name (for messages), where it goes, and its bytes. */
export interface ImagePart {
  name: string;
  address: number;
  data: Uint8Array;
}

/** One Write Memory: at most 256 bytes at a 256-aligned address, inside one erase unit. */
export interface WriteBlock {
  address: number;
  data: Buffer;
  page: FlashPage;
}

/** What flashing the parts takes: each page to erase once (in order) and every block (by address). */
export interface FlashPlan {
  pages: FlashPage[];
  blocks: WriteBlock[];
  /** The lowest part's address: where Go starts the application unless told otherwise. */
  start: number;
  /** The parts' bytes together (the blocks add the 0xFF between parts that share 256 bytes). */
  bytes: number;
}

const bad = (message: string): CcmError => new CcmError("BAD_ARGUMENT", message, { data: { step: "check" } });

/**
 * The parts by address, after the checks that need no device: at least one, none empty, none
 * overlapping another. BAD_ARGUMENT (step check) naming the part otherwise.
 */
export function checkParts(parts: readonly ImagePart[]): ImagePart[] {
  if (parts.length === 0) throw bad("there is nothing to flash: no parts");
  const empty = parts.find((p) => p.data.length === 0);
  if (empty !== undefined)
    throw bad(parts.length === 1 ? "the firmware image is empty" : `part ${empty.name} is empty`);
  const sorted = [...parts].sort((a, b) => a.address - b.address);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    const end = a.address + a.data.length;
    if (b.address < end)
      throw bad(
        `parts ${a.name} and ${b.name} overlap: ${a.name} (${a.data.length} bytes at ${hex(a.address)}) ends at ${hex(end)}, past the start of ${b.name} at ${hex(b.address)}`,
      );
  }
  return sorted;
}

/**
 * The erase units `length` bytes at `address` cover. The first part of an image must start a page
 * (`pageStart`); a later one (`name` given when there are several) a word. BAD_ARGUMENT when it does
 * not, or does not fit.
 */
function fit(
  device: Stm32Device,
  address: number,
  length: number,
  pageStart: boolean,
  name?: string,
): FlashPage[] {
  const all = pagesOf(device);
  const size = device.flashEnd - device.flashStart;
  const prefix = name === undefined ? "" : `part ${name}: `;
  if (address < device.flashStart || address >= device.flashEnd) {
    throw bad(
      `${prefix}address ${hex(address)} is outside the flash of ${device.name} (${hex(device.flashStart)}–${hex(device.flashEnd)})`,
    );
  }
  const first = all.find((p) => p.start <= address && address < p.start + p.size)!;
  if (pageStart && first.start !== address) {
    throw bad(
      `${prefix}address ${hex(address)} is not page-aligned: page ${first.index} of ${device.name} starts at ${hex(first.start)} (${first.size} bytes)${name === undefined ? "" : "; the lowest part must start a page"}`,
    );
  }
  const end = address + length;
  if (end > device.flashEnd) {
    throw bad(
      `${name === undefined ? "the image is" : `part ${name} is`} too large: ${length} bytes at ${hex(address)} end at ${hex(end)}, past the end of the ${size / 1024} KiB flash of ${device.name} (${hex(device.flashEnd)}${device.flashSizeFrom === undefined ? "" : `, by ${device.flashSizeFrom}`})`,
    );
  }
  return all.filter((p) => p.start + p.size > address && p.start < end);
}

/** The erase units [address, address + length) covers; BAD_ARGUMENT when it does not start a page or does not fit. */
export function coveredPages(device: Stm32Device, address: number, length: number): FlashPage[] {
  return fit(device, address, length, true);
}

/**
 * The parts (by address, not overlapping) as blocks: one per 256-aligned 256 bytes of flash any part
 * touches, from its start to the last byte a part has there, 0xFF where no part has one; each in
 * one of `pages` (pages are multiples of 256 bytes).
 */
function blocksOf(pages: readonly FlashPage[], parts: readonly ImagePart[]): WriteBlock[] {
  const windows = new Map<number, { data: Buffer; used: number }>();
  for (const part of parts) {
    const end = part.address + part.data.length;
    for (let at = part.address; at < end;) {
      const start = Math.floor(at / 256) * 256;
      const next = Math.min(end, start + 256);
      let w = windows.get(start);
      if (w === undefined) {
        w = { data: Buffer.alloc(256, 0xff), used: 0 };
        windows.set(start, w);
      }
      w.data.set(part.data.subarray(at - part.address, next - part.address), at - start);
      w.used = next - start;
      at = next;
    }
  }
  return [...windows].map(([address, w]) => ({
    address,
    data: w.data.subarray(0, w.used),
    page: pages.find((p) => p.start <= address && address < p.start + p.size)!,
  }));
}

/** Where the parts go, for messages: `0x08000000`, or `host_fw 0x08000000, host_fw_1 0x08001780`. */
export function placement(parts: readonly ImagePart[]): string {
  return parts.map((p) => (parts.length === 1 ? "" : `${p.name} `) + hex(p.address)).join(", ");
}

/**
 * Plans flashing `parts` in one session: the union of the pages they cover (each once, in order) and
 * the blocks in address order. One part is checked as an image always was (same messages); with
 * several, messages name the part.
 */
export function planParts(device: Stm32Device, parts: readonly ImagePart[]): FlashPlan {
  const sorted = checkParts(parts);
  const covered = new Map<number, FlashPage>();
  sorted.forEach((part, i) => {
    const name = sorted.length === 1 ? undefined : part.name;
    for (const p of fit(device, part.address, part.data.length, i === 0, name)) covered.set(p.index, p);
  });
  const pages = [...covered.values()].sort((a, b) => a.index - b.index);
  return {
    pages,
    blocks: blocksOf(pages, sorted),
    start: sorted[0]!.address,
    bytes: sorted.reduce((n, p) => n + p.data.length, 0),
  };
}
