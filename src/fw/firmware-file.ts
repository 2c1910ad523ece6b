/**
 * Reads what `ccm flash` is given: a raw binary image now; a firmware bundle (.zip, mos layout) once
 * src/fw/bundle.ts exists — it plugs in at {@link loadFirmware} by returning the STM32 part's image
 * and its `addr`.
 */
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { CcmError, errorMessage } from "../errors.js";

/** An image to flash and, when the file says so, where. */
export interface FirmwareImage {
  image: Buffer;
  /** The address the file names (a bundle part's `addr`); undefined for a raw .bin. */
  address?: number;
  /** A description for messages: the file, and the part for bundles. */
  source: string;
}

/** Bundle readers register here (src/fw/bundle.ts): by lower-case extension, e.g. ".zip". */
export const firmwareReaders = new Map<string, (path: string) => Promise<FirmwareImage>>();

/** Loads a firmware file: `.bin` (or any unknown extension) as a raw image, others through their reader. */
export async function loadFirmware(path: string): Promise<FirmwareImage> {
  const ext = extname(path).toLowerCase();
  const reader = firmwareReaders.get(ext);
  if (reader !== undefined) return reader(path);
  if (ext === ".zip") {
    throw new CcmError(
      "BAD_ARGUMENT",
      `${path}: firmware bundles (.zip) are not supported yet; give the raw FIRMWARE.BIN`,
    );
  }
  if (ext === ".hex") throw new CcmError("BAD_ARGUMENT", `${path}: Intel HEX is not supported; give a .bin`);
  let image: Buffer;
  try {
    image = await readFile(path);
  } catch (e) {
    throw new CcmError("BAD_ARGUMENT", `cannot read ${path}: ${errorMessage(e)}`, { cause: e });
  }
  if (image.length === 0) throw new CcmError("BAD_ARGUMENT", `${path} is empty`);
  return { image, source: path };
}
