/**
 * Where an image goes in an STM32's flash: the erase units (pages or sectors) it covers, and the
 * Write Memory blocks that put it there.
 */
import { CcmError } from "../../errors.js";
import { pagesOf, type FlashPage, type Stm32Device } from "./devices.js";
import { hex } from "./session.js";

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
      `the image is too large: ${length} bytes at ${hex(address)} end at ${hex(end)}, past the end of the ${size / 1024} KiB flash of ${device.name} (${hex(device.flashEnd)}${device.flashSizeFrom === undefined ? "" : `, by ${device.flashSizeFrom}`})`,
    );
  }
  return all.filter((p) => p.start + p.size > address && p.start < end);
}

/** One Write Memory: at most 256 bytes at a 4-aligned address, inside one erase unit. */
export interface WriteBlock {
  address: number;
  data: Buffer;
  page: FlashPage;
}

/** `image` at `address` (the start of a page) in blocks of 256 bytes, each with its page. */
export function blocksOf(pages: readonly FlashPage[], address: number, image: Buffer): WriteBlock[] {
  const blocks: WriteBlock[] = [];
  for (let off = 0; off < image.length; off += 256) {
    const at = address + off;
    const page = pages.find((p) => p.start <= at && at < p.start + p.size)!;
    blocks.push({ address: at, data: image.subarray(off, off + 256), page });
  }
  return blocks;
}
