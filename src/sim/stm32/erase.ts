/**
 * The emulated bootloader's Erase (0x43: one-byte page numbers, or FF 00 for a global erase) and
 * Extended Erase (0x44: two-byte page numbers; FFFF mass erase, FFFE/FFFD bank 1/2 on dual-bank
 * parts), as reference stm32-ota.md §1.3 lays them out. The ACK comes when every page is erased.
 */
import type { Stm32Bootloader } from "./bootloader.js";
import { xor } from "./wire.js";

/** The erase commands of one bootloader. */
export class Stm32Erase {
  private readonly bl: Stm32Bootloader;

  constructor(bl: Stm32Bootloader) {
    this.bl = bl;
  }

  /** Erase (0x43), after its command ACK. */
  erase(): void {
    const bl = this.bl;
    bl.expect(1, (n) => {
      if (n[0] === 0xff) {
        bl.expect(1, (z, t) => {
          // FF followed by anything but 00 erases nothing, yet is ACKed (reference §1.3).
          if (z[0] !== 0x00) {
            bl.ackAfter(t, 0);
            return;
          }
          bl.memory.massErase();
          bl.ackAfter(t, bl.memory.chip.massEraseMs);
        });
        return;
      }
      bl.expect(n[0]! + 2, (rest, t) => {
        if (xor(Buffer.concat([n, rest])) !== 0) {
          bl.nack(t);
          return;
        }
        this.erasePages([...rest.subarray(0, rest.length - 1)], t);
      });
    });
  }

  /** Extended Erase (0x44), after its command ACK. */
  extendedErase(): void {
    const bl = this.bl;
    bl.expect(2, (head) => {
      const n = head.readUInt16BE(0);
      if (n >= 0xfff0) {
        bl.expect(1, (cs, t) => {
          const pages = this.special(n);
          if ((head[0]! ^ head[1]! ^ cs[0]!) !== 0 || pages === undefined) {
            bl.nack(t);
            return;
          }
          if (pages === "all") {
            bl.memory.massErase();
            bl.ackAfter(t, bl.memory.chip.massEraseMs);
          } else {
            this.erasePages(pages, t);
          }
        });
        return;
      }
      bl.expect(2 * (n + 1) + 1, (rest, t) => {
        if (xor(Buffer.concat([head, rest])) !== 0) {
          bl.nack(t);
          return;
        }
        const pages: number[] = [];
        for (let i = 0; i <= n; i++) pages.push(rest.readUInt16BE(2 * i));
        this.erasePages(pages, t);
      });
    });
  }

  /** The pages of a special erase code: FFFF all, FFFE/FFFD a bank of a dual-bank part; else undefined. */
  private special(n: number): number[] | "all" | undefined {
    if (n === 0xffff) return "all";
    const bank2 = this.bl.memory.chip.bank2Page;
    if (bank2 === undefined || bank2 >= this.bl.memory.pageCount) return undefined;
    const count = this.bl.memory.pageCount;
    const range = (from: number, to: number): number[] =>
      Array.from({ length: to - from }, (_, i) => from + i);
    if (n === 0xfffe) return range(0, bank2);
    if (n === 0xfffd) return range(bank2, count);
    return undefined;
  }

  private erasePages(pages: number[], t: number): void {
    const bl = this.bl;
    if (!bl.memory.erasePages(pages)) {
      bl.nack(t);
      return;
    }
    const chip = bl.memory.chip;
    bl.ackAfter(
      t,
      pages.reduce((sum, p) => sum + chip.eraseMs(chip.pages[p]!), 0),
    );
  }
}
