/**
 * Reads what `ccm flash` is given: a raw binary image, or a firmware bundle (.zip, mos layout; every
 * checksum verified by src/fw/bundle.ts) whose one STM32 part gives the image and its `addr`.
 */
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { CcmError, errorMessage } from "../errors.js";
import { readBundle } from "./bundle.js";

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
  if (ext === ".zip") return loadBundlePart(path);
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

/** The STM32 part of a bundle: exactly one, with its address. */
async function loadBundlePart(path: string): Promise<FirmwareImage> {
  let zip: Buffer;
  try {
    zip = await readFile(path);
  } catch (e) {
    throw new CcmError("BAD_ARGUMENT", `cannot read ${path}: ${errorMessage(e)}`, { cause: e });
  }
  const parts = readBundle(zip).parts.filter((p) => p.type.toUpperCase() === "STM32");
  if (parts.length !== 1)
    throw new CcmError("BUNDLE_INVALID", `${path}: expected one part of type STM32, found ${parts.length}`);
  const part = parts[0]!;
  return {
    image: part.data,
    ...(part.addr === undefined ? {} : { address: part.addr }),
    source: `${path} (part ${part.name})`,
  };
}
