/**
 * What the simulated host reads from the image in its flash: whether it would boot (a plausible
 * Cortex-M vector table) and which version it is (the `CCMFW:version=…;` marker).
 *
 * The marker is plain ASCII anywhere in the image, e.g. a `const char` in the firmware:
 *
 *     static const char fw_marker[] __attribute__((used)) = "CCMFW:version=1.2.3;";
 *
 * The version is 1 to 32 printable characters other than `;`. The first marker found wins.
 */

const MARKER = /CCMFW:version=([\x21-\x3a\x3c-\x7e]{1,32});/;

/** The version the image's marker carries, or undefined when it has none. */
export function firmwareVersionOf(image: Buffer): string | undefined {
  // latin1 keeps one character per byte, so binary bytes around the marker cannot merge with it.
  return MARKER.exec(image.toString("latin1"))?.[1];
}

/**
 * Whether a Cortex-M would start from a vector table at `image[offset]`: the initial stack pointer
 * points into SRAM (0x2000_0000–0x2010_0000) and the reset vector is a Thumb address inside the image's
 * flash range.
 */
export function looksBootable(image: Buffer, offset: number, flashBase: number): boolean {
  if (offset < 0 || offset + 8 > image.length) return false;
  const msp = image.readUInt32LE(offset);
  const reset = image.readUInt32LE(offset + 4);
  const inRam = msp >= 0x2000_0000 && msp <= 0x2010_0000;
  const inFlash = reset >= flashBase && reset < flashBase + image.length;
  return inRam && inFlash && (reset & 1) === 1;
}

/** Options of {@link makeFirmwareImage}. */
export interface FirmwareImageOptions {
  /** Image size in bytes (default 4096). */
  size?: number;
  /** Version written in the marker; omitted: no marker. */
  version?: string;
  /** Where the image will be flashed (default 0x0800_0000): the reset vector points there. */
  address?: number;
  /** Initial stack pointer (default 0x2000_5000); 0xFFFF_FFFF makes an image that does not boot. */
  stackPointer?: number;
  /** Seed of the filler bytes, so two images differ (default 1). */
  seed?: number;
}

/** A synthetic firmware image for tests and demos: a vector table, the marker, pseudo-random code. */
export function makeFirmwareImage(options: FirmwareImageOptions = {}): Buffer {
  const size = options.size ?? 4096;
  const address = options.address ?? 0x0800_0000;
  const image = Buffer.alloc(size);
  let x = (options.seed ?? 1) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    image[i] = x & 0xff;
  }
  if (size >= 8) {
    image.writeUInt32LE((options.stackPointer ?? 0x2000_5000) >>> 0, 0);
    image.writeUInt32LE((address + 0x101) >>> 0, 4);
  }
  if (options.version !== undefined) {
    const marker = Buffer.from(`CCMFW:version=${options.version};`, "latin1");
    const at = Math.min(0x200, Math.max(8, size - marker.length));
    if (at + marker.length > size) throw new Error(`image of ${size} bytes is too small for the marker`);
    marker.copy(image, at);
  }
  return image;
}
