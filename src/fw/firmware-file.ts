/**
 * Reads what `ccm flash` is given: a raw binary image, or a firmware bundle (.zip, mos layout; every
 * checksum verified by src/fw/bundle.ts) whose STM32 parts, each at its `addr`, are the image.
 */
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { CcmError, errorMessage } from "../errors.js";
import { readBundle } from "./bundle.js";

/** Bundle platforms `ccm flash` takes without --force: host firmware (mos's name) and plain STM32. */
export const FLASH_PLATFORMS: readonly string[] = ["ccm_host", "stm32"];

/** One part to flash; `address` undefined for a raw .bin (the caller's --addr). */
export interface FirmwarePart {
  name: string;
  address?: number;
  data: Buffer;
}

/** What a firmware file holds. */
export interface FirmwareFile {
  /** One for a raw image; a bundle's STM32 parts by address. */
  parts: FirmwarePart[];
  /** Whether it came from a bundle (its parts carry their addresses). */
  bundle: boolean;
  /** A description for messages: the file, and the parts for bundles. */
  source: string;
}

/**
 * Loads a firmware file: `.zip` as a bundle (refused when its platform is not one of
 * {@link FLASH_PLATFORMS}, unless `force`), anything else but `.hex` as a raw image.
 */
export async function loadFirmware(path: string, options: { force?: boolean } = {}): Promise<FirmwareFile> {
  const ext = extname(path).toLowerCase();
  if (ext === ".hex") throw new CcmError("BAD_ARGUMENT", `${path}: Intel HEX is not supported; give a .bin`);
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (e) {
    throw new CcmError("BAD_ARGUMENT", `cannot read ${path}: ${errorMessage(e)}`, { cause: e });
  }
  if (ext === ".zip") return bundleParts(path, data, options.force === true);
  if (data.length === 0) throw new CcmError("BAD_ARGUMENT", `${path} is empty`);
  return { parts: [{ name: path, data }], bundle: false, source: path };
}

/** The STM32 parts of a bundle: at least one; with several, each with its `addr`. */
function bundleParts(path: string, zip: Buffer, force: boolean): FirmwareFile {
  const b = readBundle(zip);
  const platform = b.manifest.platform;
  if (!force && !FLASH_PLATFORMS.includes(platform.toLowerCase()))
    throw new CcmError(
      "BAD_ARGUMENT",
      `${path}: the bundle is for platform "${platform}"; ccm flash takes ${FLASH_PLATFORMS.join(" or ")} bundles (--force flashes it anyway)`,
    );
  const parts = b.parts.filter((p) => p.type.toUpperCase() === "STM32");
  if (parts.length === 0)
    throw new CcmError(
      "BUNDLE_INVALID",
      `${path}: no part of type STM32; the bundle has ${b.parts.map((p) => `${p.name}:${p.type}`).join(", ")}`,
    );
  const missing = parts.length > 1 ? parts.find((p) => p.addr === undefined) : undefined;
  if (missing !== undefined)
    throw new CcmError("BUNDLE_INVALID", `${path}: part ${missing.name}: an STM32 part needs addr`);
  parts.sort((x, y) => (x.addr ?? 0) - (y.addr ?? 0));
  return {
    parts: parts.map((p) => ({
      name: p.name,
      data: p.data,
      ...(p.addr === undefined ? {} : { address: p.addr }),
    })),
    bundle: true,
    source: `${path} (${parts.length === 1 ? "part" : "parts"} ${parts.map((p) => p.name).join(", ")})`,
  };
}
