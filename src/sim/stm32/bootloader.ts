/**
 * The STM32 ROM bootloader's USART protocol (AN3155) as a byte-stream state machine, answering from
 * an {@link Stm32Memory}. It waits for 0x7F, then takes commands `cmd, cmd^0xFF` and their packets
 * exactly as reference stm32-ota.md §1.3 lays them out, NACKing bad complements, bad checksums,
 * invalid addresses, unsupported commands and (under read protection) every access to memory.
 *
 * Pacing: with a baud rate, every byte takes 11 bit times (8E1) on the wire each way, and program
 * and erase take the part's typical times. Arrival times are kept on a virtual timeline (a byte
 * cannot arrive before the previous one has, nor before the answer the host waited for went out);
 * answers are written when the timeline says their last byte would have arrived, at most
 * {@link SLACK_MS} early (timers are coarse). Without pacing everything is answered at once.
 */
import type { Stm32Memory } from "./memory.js";

export const ACK = 0x79;
export const NACK = 0x1f;
/** Answers may be written this much before their wire time (Node timers have 1 ms resolution). */
export const SLACK_MS = 1;

export interface BootloaderOptions {
  memory: Stm32Memory;
  /** Writes bytes to the UART. */
  send: (bytes: Buffer) => void;
  /** Baud rate for pacing; 0 or pacing false: no pacing. */
  baud: number;
  pacing: boolean;
  /** Go to `address` was accepted (its ACK is on the wire). */
  onGo: (address: number) => void;
  /** The bootloader resets the part (after Readout Protect/Unprotect, Write Protect/Unprotect). */
  onSystemReset: () => void;
  /** Planned NACKs, shared with the caller so that a storm outlives a reset (see injectNacks). */
  nacks?: NackPlan[];
  now?: () => number;
}

/** NACK the next `count` commands with code `command` (or any command). */
export interface NackPlan {
  count: number;
  command: number | undefined;
}

/** Counters tests can read. */
export interface BootloaderStats {
  commands: number;
  nacks: number;
  bytesIn: number;
  bytesOut: number;
}

type Handler = (bytes: Buffer, t: number) => void;

interface Pending {
  due: number;
  bytes?: Buffer;
  action?: () => void;
}

const READ_PROTECTED_DENIED = new Set([0x11, 0x21, 0x31, 0x43, 0x44, 0x63]);

/** XOR of all bytes. */
export function xor(bytes: Uint8Array): number {
  let x = 0;
  for (const b of bytes) x ^= b;
  return x;
}

export class Stm32Bootloader {
  readonly stats: BootloaderStats = { commands: 0, nacks: 0, bytesIn: 0, bytesOut: 0 };
  private readonly options: BootloaderOptions;
  private readonly memory: Stm32Memory;
  private readonly byteMs: number;
  private readonly now: () => number;
  private synced = false;
  private want = 0;
  private handler: Handler | undefined;
  private buffer: number[] = [];
  private rxAt = 0;
  private txAt = 0;
  private readonly queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly injected: NackPlan[];

  constructor(options: BootloaderOptions) {
    this.options = options;
    this.memory = options.memory;
    this.byteMs = options.pacing && options.baud > 0 ? 11_000 / options.baud : 0;
    this.now = options.now ?? (() => performance.now());
    this.injected = options.nacks ?? [];
  }

  /** Whether 0x7F has been seen since this bootloader started. */
  get isSynced(): boolean {
    return this.synced;
  }

  /** NACKs the next `count` commands (those with code `command`, or any): a NACK storm. */
  injectNacks(count: number, command?: number): void {
    this.injected.push({ count, command });
  }

  /** Bytes from the host. */
  receive(chunk: Buffer): void {
    if (this.stopped) return;
    const now = this.now();
    for (const b of chunk) {
      this.stats.bytesIn++;
      this.rxAt = Math.max(now, this.rxAt, this.txAt) + this.byteMs;
      this.take(b, this.rxAt);
    }
    this.pump();
  }

  /** Stops answering: pending answers are dropped (the part was reset). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.queue.length = 0;
  }

  /** Read through a method: an action run by pump() may stop the bootloader. */
  private isStopped(): boolean {
    return this.stopped;
  }

  private take(b: number, t: number): void {
    if (!this.synced) {
      if (b === 0x7f) {
        this.synced = true;
        this.reply([ACK], t);
        this.expectCommand();
      }
      return;
    }
    this.buffer.push(b);
    if (this.buffer.length < this.want) return;
    const bytes = Buffer.from(this.buffer);
    this.buffer = [];
    const h = this.handler;
    this.handler = undefined;
    h?.(bytes, t);
  }

  private expect(n: number, handler: Handler): void {
    this.want = n;
    this.handler = handler;
  }

  private expectCommand(): void {
    this.expect(2, (b, t) => {
      this.command(b[0]!, b[1]!, t);
    });
  }

  private reply(bytes: number[] | Buffer, at: number): void {
    const start = Math.max(at, this.txAt);
    this.txAt = start + bytes.length * this.byteMs;
    this.queue.push({ due: this.txAt, bytes: Buffer.from(bytes) });
  }

  /** Runs `action` once everything queued so far is on the wire (and `delayMs` more). */
  private after(action: () => void, delayMs = 0): void {
    this.queue.push({ due: Math.max(this.txAt, this.rxAt) + delayMs, action });
  }

  private nack(t: number): void {
    this.stats.nacks++;
    this.reply([NACK], t);
    this.expectCommand();
  }

  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped) return;
    const now = this.now();
    while (this.queue.length > 0 && this.queue[0]!.due <= now + SLACK_MS) {
      const p = this.queue.shift()!;
      if (p.bytes !== undefined) {
        this.stats.bytesOut += p.bytes.length;
        this.options.send(p.bytes);
      }
      p.action?.();
      if (this.isStopped()) return;
    }
    const next = this.queue[0];
    if (next !== undefined) {
      this.timer = setTimeout(
        () => {
          this.pump();
        },
        Math.max(1, Math.floor(next.due - SLACK_MS - now)),
      );
    }
  }

  private command(code: number, complement: number, t: number): void {
    this.stats.commands++;
    const chip = this.memory.chip;
    if ((code ^ complement) !== 0xff || !chip.commands.includes(code)) {
      this.nack(t);
      return;
    }
    if (this.memory.readProtected && READ_PROTECTED_DENIED.has(code)) {
      this.nack(t);
      return;
    }
    const storm = this.injected.find((i) => i.count > 0 && (i.command === undefined || i.command === code));
    if (storm !== undefined) {
      storm.count--;
      this.nack(t);
      return;
    }
    this.reply([ACK], t);
    switch (code) {
      case 0x00:
        this.reply([chip.commands.length, chip.blVersion, ...chip.commands, ACK], t);
        {
          this.expectCommand();
          return;
        }
      case 0x01:
        this.reply([chip.blVersion, 0, 0, ACK], t);
        {
          this.expectCommand();
          return;
        }
      case 0x02:
        this.reply([1, chip.pid >> 8, chip.pid & 0xff, ACK], t);
        {
          this.expectCommand();
          return;
        }
      case 0x11: {
        this.address((address, t1) => {
          if (this.memory.read(address, 1) === undefined) {
            this.nack(t1);
            return;
          }
          this.reply([ACK], t1);
          this.expect(2, (n, t2) => {
            const count = n[0]! + 1;
            const data = (n[0]! ^ n[1]!) === 0xff ? this.memory.read(address, count) : undefined;
            if (data === undefined) {
              this.nack(t2);
              return;
            }
            this.reply([ACK], t2);
            this.reply(data, t2);
            this.expectCommand();
          });
        });
        return;
      }
      case 0x31: {
        this.address((address, t1) => {
          if (!this.memory.writable(address, 1)) {
            this.nack(t1);
            return;
          }
          this.reply([ACK], t1);
          this.expect(1, (n) => {
            const count = n[0]! + 1;
            this.expect(count + 1, (rest, t2) => {
              this.writeMemory(address, n[0]!, rest, t2);
            });
          });
        });
        return;
      }
      case 0x21: {
        this.address((address, t1) => {
          const region = this.memory.region(address, 4);
          if (region !== "flash" && region !== "ram") {
            this.nack(t1);
            return;
          }
          this.reply([ACK], t1);
          this.after(() => {
            this.options.onGo(address);
          });
          this.expectCommand();
        });
        return;
      }
      case 0x43: {
        this.erase();
        return;
      }
      case 0x44: {
        this.extendedErase();
        return;
      }
      case 0x63: {
        this.expect(1, (n) => {
          this.expect(n[0]! + 2, (rest, t1) => {
            const pages = [...rest.subarray(0, rest.length - 1)];
            if (xor(Buffer.concat([n, rest])) !== 0 || pages.some((p) => p >= this.memory.pageCount)) {
              this.nack(t1);
              return;
            }
            this.memory.writeProtected.clear();
            for (const p of pages) this.memory.writeProtected.add(p);
            this.reply([ACK], t1);
            this.systemReset();
          });
        });
        return;
      }
      case 0x73:
        this.memory.writeProtected.clear();
        this.reply([ACK], t);
        {
          this.systemReset();
          return;
        }
      case 0x82:
        this.memory.readProtected = true;
        this.reply([ACK], t);
        {
          this.systemReset();
          return;
        }
      case 0x92:
        this.memory.massErase();
        this.memory.readProtected = false;
        this.memory.writeProtected.clear();
        this.reply([ACK], t + this.ms(chip.massEraseMs));
        {
          this.systemReset();
          return;
        }
      default: {
        this.nack(t);
        return;
      }
    }
  }

  /** Takes `A3 A2 A1 A0 XOR`; NACKs a bad checksum. */
  private address(then: (address: number, t: number) => void): void {
    this.expect(5, (b, t) => {
      if (xor(b) !== 0) {
        this.nack(t);
        return;
      }
      then(b.readUInt32BE(0), t);
    });
  }

  private writeMemory(address: number, n: number, rest: Buffer, t: number): void {
    const data = rest.subarray(0, rest.length - 1);
    if ((xor(data) ^ n ^ rest[rest.length - 1]!) !== 0) {
      this.nack(t);
      return;
    }
    if (!this.memory.writable(address, data.length)) {
      this.nack(t);
      return;
    }
    const inFlash = this.memory.region(address, data.length) === "flash";
    const result = this.memory.write(address, data);
    if (result !== "ok") {
      this.nack(t);
      return;
    }
    const chip = this.memory.chip;
    const progMs = inFlash ? (Math.ceil(data.length / chip.progUnit) * chip.progUs) / 1000 : 0;
    this.reply([ACK], t + this.ms(progMs));
    this.expectCommand();
  }

  private erase(): void {
    this.expect(1, (n) => {
      if (n[0] === 0xff) {
        this.expect(1, (z, t2) => {
          // FF followed by anything but 00 erases nothing, yet is ACKed (reference §1.3).
          if (z[0] === 0x00) {
            this.memory.massErase();
            this.reply([ACK], t2 + this.ms(this.memory.chip.massEraseMs));
          } else {
            this.reply([ACK], t2);
          }
          this.expectCommand();
        });
        return;
      }
      this.expect(n[0]! + 2, (rest, t2) => {
        const pages = [...rest.subarray(0, rest.length - 1)];
        if (xor(Buffer.concat([n, rest])) !== 0) {
          this.nack(t2);
          return;
        }
        this.erasePages(pages, t2);
      });
    });
  }

  private extendedErase(): void {
    this.expect(2, (head) => {
      const n = head.readUInt16BE(0);
      if (n >= 0xfff0) {
        this.expect(1, (cs, t1) => {
          if ((head[0]! ^ head[1]! ^ cs[0]!) !== 0 || n !== 0xffff) {
            this.nack(t1);
            return;
          }
          this.memory.massErase();
          this.reply([ACK], t1 + this.ms(this.memory.chip.massEraseMs));
          this.expectCommand();
        });
        return;
      }
      this.expect(2 * (n + 1) + 1, (rest, t1) => {
        if (xor(Buffer.concat([head, rest])) !== 0) {
          this.nack(t1);
          return;
        }
        const pages: number[] = [];
        for (let i = 0; i <= n; i++) pages.push(rest.readUInt16BE(2 * i));
        this.erasePages(pages, t1);
      });
    });
  }

  private erasePages(pages: number[], t: number): void {
    if (!this.memory.erasePages(pages)) {
      this.nack(t);
      return;
    }
    const chip = this.memory.chip;
    const ms = pages.reduce((sum, p) => sum + chip.eraseMs(chip.pages[p]!), 0);
    this.reply([ACK], t + this.ms(ms));
    this.expectCommand();
  }

  private systemReset(): void {
    this.want = Number.POSITIVE_INFINITY;
    this.after(() => {
      this.options.onSystemReset();
    });
  }

  /** A duration that only counts when pacing. */
  private ms(value: number): number {
    return this.byteMs === 0 ? 0 : value;
  }
}
