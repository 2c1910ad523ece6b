/**
 * The STM32 parts the bootloader emulator can be: what their ROM bootloader (AN3155) answers and
 * how their flash behaves. Layouts follow AN2606 and stm32flash 0.7's dev_table.c; timings are the
 * datasheets' typical values (reference stm32-ota.md §1.5, §1.6). Deliberately separate from the
 * flasher's own table (src/fw/stm32/devices.ts), as a real part is separate from the tool.
 */

/** One emulated part. */
export interface ChipProfile {
  /** Product id answered to Get ID (0x410…). */
  pid: number;
  name: string;
  /** Bootloader version byte (0x22 = v2.2). */
  blVersion: number;
  /** Command codes listed by Get, in order; holds 0x43 (Erase) or 0x44 (Extended Erase), never both. */
  commands: readonly number[];
  flashBase: number;
  /** Size of each erase unit (page or sector) from flashBase, in bytes. */
  pages: readonly number[];
  /** Dual-bank parts: the first page of bank 2 (Extended Erase FFFE/FFFD erase a bank). */
  bank2Page?: number;
  /** RAM the bootloader lets the host use (after its reserved head), [start, end). */
  ram: readonly [number, number];
  /** Option bytes [start, end). */
  optionBytes: readonly [number, number];
  /** System memory (the ROM bootloader itself) [start, end). */
  systemMemory: readonly [number, number];
  /** Address of the 16-bit flash size register (KiB). */
  flashSizeRegister: number;
  /** Bytes programmed at once (2 on F0/F1 halfwords, 4 on F4 x32 words). */
  progUnit: number;
  /** Typical time to program one unit, µs. */
  progUs: number;
  /** Typical erase time of one unit of each size, ms. */
  eraseMs: (pageBytes: number) => number;
  /** Typical mass erase time, ms. */
  massEraseMs: number;
}

const KIB = 1024;
const COMMON_V2 = [0x00, 0x01, 0x02, 0x11, 0x21, 0x31, 0x43, 0x63, 0x73, 0x82, 0x92] as const;
const COMMON_V3 = [0x00, 0x01, 0x02, 0x11, 0x21, 0x31, 0x44, 0x63, 0x73, 0x82, 0x92] as const;

function uniform(count: number, size: number): number[] {
  return Array.from({ length: count }, () => size);
}

/** F1 page erase: 20–40 ms per page whatever its size (DS5319); F0 alike. */
const f1Erase = (): number => 30;
/** F4 sector erase at x32 (DS8626): 16 KiB ≈ 250 ms, 64 KiB ≈ 550 ms, 128 KiB ≈ 1 s. */
const f4Erase = (bytes: number): number => (bytes <= 16 * KIB ? 250 : bytes <= 64 * KIB ? 550 : 1000);
/** One bank of an F4 (RM0090): 4 × 16 KiB, 64 KiB, 7 × 128 KiB. */
const F4_BANK = [16 * KIB, 16 * KIB, 16 * KIB, 16 * KIB, 64 * KIB, ...uniform(7, 128 * KIB)];

export const CHIPS: readonly ChipProfile[] = [
  {
    pid: 0x410,
    name: "STM32F10xxx Medium-density",
    blVersion: 0x22,
    commands: COMMON_V2,
    flashBase: 0x0800_0000,
    pages: uniform(128, KIB),
    ram: [0x2000_0200, 0x2000_5000],
    optionBytes: [0x1fff_f800, 0x1fff_f810],
    systemMemory: [0x1fff_f000, 0x1fff_f800],
    flashSizeRegister: 0x1fff_f7e0,
    progUnit: 2,
    progUs: 52.5,
    eraseMs: f1Erase,
    massEraseMs: 30,
  },
  {
    pid: 0x414,
    name: "STM32F10xxx High-density",
    blVersion: 0x22,
    commands: COMMON_V2,
    flashBase: 0x0800_0000,
    pages: uniform(256, 2 * KIB),
    ram: [0x2000_0200, 0x2001_0000],
    optionBytes: [0x1fff_f800, 0x1fff_f810],
    systemMemory: [0x1fff_f000, 0x1fff_f800],
    flashSizeRegister: 0x1fff_f7e0,
    progUnit: 2,
    progUs: 52.5,
    eraseMs: f1Erase,
    massEraseMs: 30,
  },
  {
    // Bootloader v2.1 (AN2606): Erase (0x43) with one-byte page numbers, yet 512 pages.
    pid: 0x430,
    name: "STM32F10xxx XL-density",
    blVersion: 0x21,
    commands: COMMON_V2,
    flashBase: 0x0800_0000,
    pages: uniform(512, 2 * KIB),
    ram: [0x2000_0800, 0x2001_8000],
    optionBytes: [0x1fff_f800, 0x1fff_f810],
    systemMemory: [0x1fff_e000, 0x1fff_f800],
    flashSizeRegister: 0x1fff_f7e0,
    progUnit: 2,
    progUs: 52.5,
    eraseMs: f1Erase,
    massEraseMs: 30,
  },
  {
    pid: 0x440,
    name: "STM32F030x8/F05xxx",
    blVersion: 0x21,
    commands: COMMON_V2,
    flashBase: 0x0800_0000,
    pages: uniform(64, KIB),
    ram: [0x2000_0800, 0x2000_2000],
    optionBytes: [0x1fff_f800, 0x1fff_f810],
    systemMemory: [0x1fff_ec00, 0x1fff_f800],
    flashSizeRegister: 0x1fff_f7cc,
    progUnit: 2,
    progUs: 53.5,
    eraseMs: f1Erase,
    massEraseMs: 30,
  },
  {
    pid: 0x413,
    name: "STM32F40xxx/41xxx",
    blVersion: 0x31,
    commands: COMMON_V3,
    flashBase: 0x0800_0000,
    pages: F4_BANK,
    ram: [0x2000_3000, 0x2002_0000],
    optionBytes: [0x1fff_c000, 0x1fff_c010],
    systemMemory: [0x1fff_0000, 0x1fff_7800],
    flashSizeRegister: 0x1fff_7a22,
    progUnit: 4,
    progUs: 16,
    eraseMs: f4Erase,
    massEraseMs: 8000,
  },
  {
    // Dual bank: bank 2 (sectors 12–23) at 0x0810_0000.
    pid: 0x419,
    name: "STM32F42xxx/43xxx",
    blVersion: 0x91,
    commands: COMMON_V3,
    flashBase: 0x0800_0000,
    pages: [...F4_BANK, ...F4_BANK],
    bank2Page: 12,
    ram: [0x2000_3000, 0x2003_0000],
    optionBytes: [0x1fff_c000, 0x1fff_c010],
    systemMemory: [0x1fff_0000, 0x1fff_7800],
    flashSizeRegister: 0x1fff_7a22,
    progUnit: 4,
    progUs: 16,
    eraseMs: f4Erase,
    massEraseMs: 16000,
  },
];

/** The profile of `pid`; throws naming the known ones. */
export function chipByPid(pid: number): ChipProfile {
  const chip = CHIPS.find((c) => c.pid === pid);
  if (chip === undefined) {
    const known = CHIPS.map((c) => `0x${c.pid.toString(16)}`).join(", ");
    throw new Error(`no emulated STM32 with PID 0x${pid.toString(16)} (known: ${known})`);
  }
  return chip;
}

/**
 * The part with only its first `kib` KiB of flash (an F103C8 is a 0x410 with 64 KiB): what its flash
 * size register says. Throws when that is not a whole number of pages or more than the family has.
 */
export function withFlashSize(chip: ChipProfile, kib: number): ChipProfile {
  const pages: number[] = [];
  let size = 0;
  for (const p of chip.pages) {
    if (size >= kib * KIB) break;
    pages.push(p);
    size += p;
  }
  if (!Number.isInteger(kib) || kib <= 0 || size !== kib * KIB)
    throw new Error(
      `${chip.name} cannot have ${kib} KiB of flash (whole pages, at most ${flashSize(chip) / KIB} KiB)`,
    );
  const out: ChipProfile = { ...chip, pages };
  if (chip.bank2Page !== undefined && chip.bank2Page >= pages.length) delete out.bank2Page;
  return out;
}

/** Total flash bytes of a part. */
export function flashSize(chip: ChipProfile): number {
  return chip.pages.reduce((a, b) => a + b, 0);
}
