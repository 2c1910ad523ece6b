/**
 * The memory of an emulated STM32 as its ROM bootloader sees it: flash made of erase units (pages
 * or sectors), SRAM, option bytes, system memory and the flash size register. Flash programs like
 * real NOR flash: what is not erased (0xFF) cannot be programmed again without erasing its page.
 * Optionally persisted to a file (the raw flash contents).
 */
import { readFileSync } from "node:fs";
import { atomicWriteFileSync } from "../../util/atomic-file.js";
import { flashSize, type ChipProfile } from "./chips.js";

export type Region = "flash" | "ram" | "option" | "system";

/** What a write into memory did. */
export type WriteResult = "ok" | "invalid-address" | "program-error";

export class Stm32Memory {
  readonly chip: ChipProfile;
  readonly flash: Buffer;
  readonly ram: Buffer;
  readonly optionBytes: Buffer;
  /** Read protection (RDP level 1): the bootloader refuses reads, writes, erases and Go. */
  readProtected = false;
  /** Pages whose writes are silently dropped (AN3155: no error on write-protected sectors). */
  readonly writeProtected = new Set<number>();
  private readonly pageStarts: number[] = [];
  private readonly file: string | undefined;
  private readonly flashSizeReadable: boolean;
  private saveTimer: NodeJS.Timeout | undefined;

  /**
   * With `file`, the flash is loaded from it when it exists and saved to it after changes. With
   * `flashSizeReadable` false, reads of the flash size register are refused, as on parts whose
   * bootloader does not let the host read it.
   */
  constructor(chip: ChipProfile, file?: string, options: { flashSizeReadable?: boolean } = {}) {
    this.chip = chip;
    this.file = file;
    this.flashSizeReadable = options.flashSizeReadable ?? true;
    this.flash = Buffer.alloc(flashSize(chip), 0xff);
    this.ram = Buffer.alloc(chip.ram[1] - 0x2000_0000);
    this.optionBytes = Buffer.alloc(chip.optionBytes[1] - chip.optionBytes[0], 0xff);
    this.optionBytes[0] = 0xa5; // RDP: level 0
    this.optionBytes[1] = 0x5a;
    let at = 0;
    for (const size of chip.pages) {
      this.pageStarts.push(at);
      at += size;
    }
    if (file !== undefined) this.load(file);
  }

  get pageCount(): number {
    return this.chip.pages.length;
  }

  /** Offset in flash of page `i`. */
  pageOffset(i: number): number {
    return this.pageStarts[i]!;
  }

  /** The region [address, address + length) lies in, or undefined when it is not all in one. */
  region(address: number, length: number): Region | undefined {
    const end = address + length;
    const c = this.chip;
    const within = (lo: number, hi: number): boolean => address >= lo && end <= hi;
    if (within(c.flashBase, c.flashBase + this.flash.length)) return "flash";
    if (within(0x2000_0000, c.ram[1])) return "ram";
    if (within(c.optionBytes[0], c.optionBytes[1])) return "option";
    if (within(c.systemMemory[0], c.systemMemory[1])) return "system";
    if (within(c.flashSizeRegister, c.flashSizeRegister + 2)) return "system";
    return undefined;
  }

  /** Reads `length` bytes, or undefined when the range is not readable. */
  read(address: number, length: number): Buffer | undefined {
    const c = this.chip;
    const register = c.flashSizeRegister;
    if (!this.flashSizeReadable && address < register + 2 && address + length > register) return undefined;
    switch (this.region(address, length)) {
      case "flash":
        return Buffer.from(this.flash.subarray(address - c.flashBase, address - c.flashBase + length));
      case "ram":
        return Buffer.from(this.ram.subarray(address - 0x2000_0000, address - 0x2000_0000 + length));
      case "option":
        return Buffer.from(
          this.optionBytes.subarray(address - c.optionBytes[0], address - c.optionBytes[0] + length),
        );
      case "system": {
        const out = Buffer.alloc(length, 0);
        const size = Buffer.alloc(2);
        size.writeUInt16LE(this.flash.length / 1024);
        for (let i = 0; i < length; i++) {
          const a = address + i;
          if (a === c.flashSizeRegister) out[i] = size[0]!;
          else if (a === c.flashSizeRegister + 1) out[i] = size[1]!;
        }
        return out;
      }
      case undefined:
        return undefined;
    }
  }

  /** Whether the bootloader accepts a Write Memory at this address (flash, or RAM above its reserved head). */
  writable(address: number, length: number): boolean {
    const region = this.region(address, length);
    if (region === "flash") return true;
    return region === "ram" && address >= this.chip.ram[0];
  }

  /**
   * Programs flash or writes RAM. On parts that program halfwords (F0/F1, progUnit 2) a halfword that
   * is not erased cannot be programmed at all, not even with the value it holds; 0x0000 is the one
   * exception (RM0008 §3.3.3: PGERR, the write is skipped). Elsewhere a byte that is not erased cannot
   * change. Either is a programming error; the rest of the data is still programmed.
   */
  write(address: number, data: Buffer): WriteResult {
    if (!this.writable(address, data.length)) return "invalid-address";
    if (this.region(address, data.length) === "ram") {
      data.copy(this.ram, address - 0x2000_0000);
      return "ok";
    }
    const offset = address - this.chip.flashBase;
    const end = offset + data.length;
    const unit = this.chip.progUnit === 2 ? 2 : 1;
    let result: WriteResult = "ok";
    for (let u = offset - (offset % unit); u < end; u += unit) {
      const lo = Math.max(u, offset);
      const hi = Math.min(u + unit, end);
      if (this.writeProtected.has(this.pageAt(lo))) continue;
      const old = this.flash.subarray(lo, hi);
      const value = data.subarray(lo - offset, hi - offset);
      const erased = old.every((b) => b === 0xff);
      const allowed = unit === 2 ? erased || value.every((b) => b === 0) : erased || old.equals(value);
      if (!allowed) {
        result = "program-error";
        continue;
      }
      value.copy(this.flash, lo);
    }
    this.changed();
    return result;
  }

  /** The page holding flash offset `offset`. */
  pageAt(offset: number): number {
    let lo = 0;
    let hi = this.pageStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.pageStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Erases pages (write-protected ones stay); false when a page number is out of range. */
  erasePages(pages: readonly number[]): boolean {
    if (pages.some((p) => !Number.isInteger(p) || p < 0 || p >= this.pageCount)) return false;
    for (const p of pages) {
      if (this.writeProtected.has(p)) continue;
      const start = this.pageStarts[p]!;
      this.flash.fill(0xff, start, start + this.chip.pages[p]!);
    }
    this.changed();
    return true;
  }

  /** Erases the whole flash. */
  massErase(): void {
    this.flash.fill(0xff);
    this.changed();
  }

  /** Writes the flash file now if a save is pending. */
  flush(): void {
    if (this.saveTimer === undefined) return;
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    if (this.file !== undefined) atomicWriteFileSync(this.file, this.flash);
  }

  private changed(): void {
    if (this.file === undefined || this.saveTimer !== undefined) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      if (this.file !== undefined) atomicWriteFileSync(this.file, this.flash);
    }, 200);
    this.saveTimer.unref();
  }

  private load(file: string): void {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
      throw e;
    }
    if (data.length > this.flash.length) {
      throw new Error(
        `${file} holds ${data.length} bytes, more than the ${this.flash.length} bytes of flash of ${this.chip.name}`,
      );
    }
    data.copy(this.flash);
  }
}
