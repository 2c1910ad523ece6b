/**
 * What the flasher knows of STM32 parts by the PID the bootloader's Get ID answers: flash range and
 * erase-unit layout, from AN2606 and stm32flash 0.7's dev_table.c. Sizes are family maxima; the
 * flash size register (reference stm32-ota.md §1.6, addresses as stm32loader reads them) says what
 * one part has.
 */

export interface Stm32Device {
  pid: number;
  name: string;
  flashStart: number;
  flashEnd: number;
  /** Erase-unit sizes from flashStart; the last one repeats to the end of flash. */
  pageSizes: readonly number[];
  /** Address of the 16-bit flash size register (KiB, little-endian), where the family has one. */
  flashSizeAddress?: number;
  /** Where flashEnd comes from when it is not the family's maximum (for messages). */
  flashSizeFrom?: string;
}

const K = 1024;
const F2F4 = [16 * K, 16 * K, 16 * K, 16 * K, 64 * K, 128 * K];
/** One bank of an F42x/F43x/F469/F479 (RM0090 §3.3, RM0386): 4 × 16 KiB, 64 KiB, 7 × 128 KiB = 1 MiB. */
const F4_BANK = [16 * K, 16 * K, 16 * K, 16 * K, 64 * K, ...Array<number>(7).fill(128 * K)];
/** Dual-bank F4: bank 2 (sectors 12–23) starts at 0x0810_0000 with the same layout as bank 1. */
const F4DB = [...F4_BANK, ...F4_BANK];
const F7 = [32 * K, 32 * K, 32 * K, 32 * K, 128 * K, 256 * K];

/** Flash size registers by family. */
const F0F3 = 0x1fff_f7cc;
const F1 = 0x1fff_f7e0;
const F2F4_FSIZE = 0x1fff_7a22;
const F7_FSIZE = 0x1ff0_f442;
const L4G = 0x1fff_75e0;

const dev = (
  pid: number,
  name: string,
  kib: number,
  pageSizes: readonly number[],
  flashSizeAddress: number,
): Stm32Device => ({
  pid,
  name,
  flashStart: 0x0800_0000,
  flashEnd: 0x0800_0000 + kib * K,
  pageSizes,
  flashSizeAddress,
});

export const DEVICES: readonly Stm32Device[] = [
  dev(0x440, "STM32F030x8/F05xxx", 64, [K], F0F3),
  dev(0x442, "STM32F030xC/F09xxx", 256, [2 * K], F0F3),
  dev(0x444, "STM32F03xx4/6", 32, [K], F0F3),
  dev(0x445, "STM32F04xxx/F070x6", 32, [K], F0F3),
  dev(0x448, "STM32F070xB/F071xx/F72xx", 128, [2 * K], F0F3),
  dev(0x412, "STM32F10xxx Low-density", 32, [K], F1),
  dev(0x410, "STM32F10xxx Medium-density", 128, [K], F1),
  dev(0x414, "STM32F10xxx High-density", 512, [2 * K], F1),
  dev(0x420, "STM32F10xxx Medium-density VL", 128, [K], F1),
  dev(0x428, "STM32F10xxx High-density VL", 512, [2 * K], F1),
  dev(0x418, "STM32F105xx/F107xx", 256, [2 * K], F1),
  dev(0x430, "STM32F10xxx XL-density", 1024, [2 * K], F1),
  dev(0x411, "STM32F2xxxx", 1024, F2F4, F2F4_FSIZE),
  dev(0x432, "STM32F373xx/F378xx", 256, [2 * K], F0F3),
  dev(0x422, "STM32F302xB(C)/F303xB(C)/F358xx", 256, [2 * K], F0F3),
  dev(0x439, "STM32F301xx/F302x4(6/8)/F318xx", 64, [2 * K], F0F3),
  dev(0x438, "STM32F303x4(6/8)/F334xx/F328xx", 64, [2 * K], F0F3),
  dev(0x446, "STM32F302xD(E)/F303xD(E)/F398xx", 512, [2 * K], F0F3),
  dev(0x413, "STM32F40xxx/41xxx", 1024, F2F4, F2F4_FSIZE),
  dev(0x419, "STM32F42xxx/43xxx", 2048, F4DB, F2F4_FSIZE),
  dev(0x423, "STM32F401xB(C)", 256, F2F4, F2F4_FSIZE),
  dev(0x433, "STM32F401xD(E)", 512, F2F4, F2F4_FSIZE),
  dev(0x458, "STM32F410xx", 128, F2F4, F2F4_FSIZE),
  dev(0x431, "STM32F411xx", 512, F2F4, F2F4_FSIZE),
  dev(0x421, "STM32F446xx", 512, F2F4, F2F4_FSIZE),
  dev(0x434, "STM32F469xx", 2048, F4DB, F2F4_FSIZE),
  dev(0x449, "STM32F74xxx/75xxx", 1024, F7, F7_FSIZE),
  dev(0x415, "STM32L476xx/486xx", 1024, [2 * K], L4G),
  dev(0x460, "STM32G07xxx/08xxx", 128, [2 * K], L4G),
  dev(0x466, "STM32G03xxx/04xxx", 64, [2 * K], L4G),
  dev(0x468, "STM32G431xx/441xx", 128, [2 * K], L4G),
];

export function deviceByPid(pid: number): Stm32Device | undefined {
  return DEVICES.find((d) => d.pid === pid);
}

/**
 * The part as its flash size register describes it (`kib` KiB, little-endian in the register), or
 * undefined when the value is not plausible (0, 0xFFFF unprogrammed, more than the family has).
 */
export function withFlashSize(device: Stm32Device, kib: number): Stm32Device | undefined {
  const end = device.flashStart + kib * K;
  if (kib === 0 || kib === 0xffff || end > device.flashEnd) return undefined;
  return { ...device, flashEnd: end, flashSizeFrom: "its flash size register" };
}

/** One erase unit: its number, start address and size. */
export interface FlashPage {
  index: number;
  start: number;
  size: number;
}

/** Every erase unit of the device, in order. */
export function pagesOf(device: Stm32Device): FlashPage[] {
  const pages: FlashPage[] = [];
  let at = device.flashStart;
  for (let i = 0; at < device.flashEnd; i++) {
    const size = device.pageSizes[Math.min(i, device.pageSizes.length - 1)]!;
    pages.push({ index: i, start: at, size });
    at += size;
  }
  return pages;
}

/** Worst-case erase time of one unit (F1 40 ms/KiB-page, F4 128 KiB sector 2 s at x32, 4 s at x8). */
export function eraseMaxMs(pageSize: number): number {
  return Math.max(100, (pageSize / K) * 40);
}
