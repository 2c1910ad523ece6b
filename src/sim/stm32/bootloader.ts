/**
 * The STM32 ROM bootloader's USART protocol (AN3155) as a byte-stream state machine, answering from
 * an {@link Stm32Memory}. It waits for 0x7F, then takes commands `cmd, cmd^0xFF` and their packets
 * exactly as reference stm32-ota.md §1.3 lays them out, NACKing bad complements, bad checksums,
 * invalid or unaligned addresses, Write Memory lengths that are not a multiple of 4, unsupported
 * commands and (under read protection) every access to memory. Timing is the wire's (wire.ts);
 * injected faults (faults.ts) act on the exchange of the command they are planned for.
 */
import { Stm32Erase } from "./erase.js";
import {
  passByte,
  takeCounted,
  takeExchangeFault,
  takeNack,
  type ExchangeFault,
  type Stm32Fault,
} from "./faults.js";
import type { Stm32Memory } from "./memory.js";
import { PacedWire, xor, type BootloaderStats } from "./wire.js";

export const ACK = 0x79;
export const NACK = 0x1f;

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
  /** Planned faults, shared with the caller so that they outlive a reset (see injectFault). */
  faults?: Stm32Fault[];
  now?: () => number;
}

/** What a command handler is given: the bytes it waited for and when the last one arrived. */
export type Handler = (bytes: Buffer, t: number) => void;

const READ_PROTECTED_DENIED = new Set([0x11, 0x21, 0x31, 0x43, 0x44, 0x63]);

export class Stm32Bootloader {
  readonly memory: Stm32Memory;
  private readonly options: BootloaderOptions;
  private readonly wire: PacedWire;
  private readonly erase: Stm32Erase;
  private synced = false;
  private want = 0;
  private handler: Handler | undefined;
  private buffer: number[] = [];
  private readonly faults: Stm32Fault[];
  private exchange: ExchangeFault | undefined;
  private deafUntil = 0;

  constructor(options: BootloaderOptions) {
    this.options = options;
    this.memory = options.memory;
    const byteMs = options.pacing && options.baud > 0 ? 11_000 / options.baud : 0;
    this.wire = new PacedWire(options.send, byteMs, options.now ?? (() => performance.now()));
    this.faults = options.faults ?? [];
    this.erase = new Stm32Erase(this);
  }

  get stats(): BootloaderStats {
    return this.wire.stats;
  }

  /** Whether 0x7F has been seen since this bootloader started. */
  get isSynced(): boolean {
    return this.synced;
  }

  /** NACKs the next `count` commands (those with code `command`, or any): a NACK storm. */
  injectNacks(count: number, command?: number): void {
    this.injectFault(command === undefined ? { kind: "nack", count } : { kind: "nack", count, command });
  }

  /** Plans a fault (faults.ts). */
  injectFault(fault: Stm32Fault): void {
    this.faults.push(fault);
  }

  /** Bytes from the host. */
  receive(chunk: Buffer): void {
    const now = this.wire.now();
    for (const raw of chunk) {
      const t = this.wire.arrival(now);
      if (now < this.deafUntil) continue;
      const b = this.exchange === undefined ? raw : passByte(this.exchange, "to-device", raw);
      if (b !== undefined) this.take(b, t);
    }
    this.wire.pump();
  }

  /** Stops answering: pending answers are dropped (the part was reset). */
  stop(): void {
    this.wire.stop();
  }

  /** @internal waits for `n` bytes, then calls `handler`. */
  expect(n: number, handler: Handler): void {
    this.want = n;
    this.handler = handler;
  }

  /** @internal back to command wait: the exchange (and any fault bound to it) is over. */
  expectCommand(): void {
    this.exchange = undefined;
    this.expect(2, (b, t) => {
      this.command(b[0]!, b[1]!, t);
    });
  }

  /** @internal queues an answer, through the exchange's fault if any. */
  reply(bytes: readonly number[] | Buffer, at: number): void {
    const x = this.exchange;
    const out =
      x === undefined
        ? [...bytes]
        : [...bytes].flatMap((b) => {
            const passed = passByte(x, "to-host", b);
            return passed === undefined ? [] : [passed];
          });
    this.wire.reply(out, at);
  }

  /** @internal ACK after `delayMs` of work (only when pacing), then command wait. */
  ackAfter(t: number, delayMs: number): void {
    this.reply([ACK], t + this.wire.ms(delayMs));
    this.expectCommand();
  }

  /** @internal NACK, then command wait. */
  nack(t: number): void {
    this.wire.stats.nacks++;
    const late = takeCounted(this.faults, "late-nack");
    this.reply([NACK], t + (late?.ms ?? 0));
    this.expectCommand();
  }

  private take(b: number, t: number): void {
    if (!this.synced) {
      if (b === 0x7f && takeCounted(this.faults, "no-sync") === undefined) {
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

  private command(code: number, complement: number, t: number): void {
    this.wire.stats.commands++;
    const chip = this.memory.chip;
    if ((code ^ complement) !== 0xff || !chip.commands.includes(code)) {
      this.nack(t);
      return;
    }
    if ((this.memory.readProtected && READ_PROTECTED_DENIED.has(code)) || takeNack(this.faults, code)) {
      this.nack(t);
      return;
    }
    const fault = takeExchangeFault(this.faults, code);
    if (fault !== undefined && "stallMs" in fault) {
      this.deafUntil = this.wire.now() + fault.stallMs;
      this.buffer = [];
      this.expectCommand();
      return;
    }
    this.exchange = fault;
    this.reply([ACK], t);
    switch (code) {
      case 0x00:
        this.reply([chip.commands.length, chip.blVersion, ...chip.commands, ACK], t);
        this.expectCommand();
        return;
      case 0x01:
        this.reply([chip.blVersion, 0, 0, ACK], t);
        this.expectCommand();
        return;
      case 0x02:
        this.reply([1, chip.pid >> 8, chip.pid & 0xff, ACK], t);
        this.expectCommand();
        return;
      case 0x11:
        this.address((address, t1) => {
          this.readMemory(address, t1);
        });
        return;
      case 0x31:
        this.address((address, t1) => {
          if (address % 4 !== 0 || !this.memory.writable(address, 1)) {
            this.nack(t1);
            return;
          }
          this.reply([ACK], t1);
          this.expect(1, (n) => {
            this.expect(n[0]! + 2, (rest, t2) => {
              this.writeMemory(address, n[0]!, rest, t2);
            });
          });
        });
        return;
      case 0x21:
        this.address((address, t1) => {
          const region = this.memory.region(address, 4);
          if (region !== "flash" && region !== "ram") {
            this.nack(t1);
            return;
          }
          this.reply([ACK], t1);
          this.wire.after(() => {
            this.options.onGo(address);
          });
          this.expectCommand();
        });
        return;
      case 0x43:
        this.erase.erase();
        return;
      case 0x44:
        this.erase.extendedErase();
        return;
      case 0x63:
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
      case 0x73:
        this.memory.writeProtected.clear();
        this.reply([ACK], t);
        this.systemReset();
        return;
      case 0x82:
        this.memory.readProtected = true;
        this.reply([ACK], t);
        this.systemReset();
        return;
      case 0x92:
        this.memory.massErase();
        this.memory.readProtected = false;
        this.memory.writeProtected.clear();
        this.reply([ACK], t + this.wire.ms(chip.massEraseMs));
        this.systemReset();
        return;
      default:
        this.nack(t);
        return;
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

  private readMemory(address: number, t: number): void {
    if (this.memory.read(address, 1) === undefined) {
      this.nack(t);
      return;
    }
    this.reply([ACK], t);
    this.expect(2, (n, t2) => {
      const data = (n[0]! ^ n[1]!) === 0xff ? this.memory.read(address, n[0]! + 1) : undefined;
      if (data === undefined) {
        this.nack(t2);
        return;
      }
      this.reply([ACK], t2);
      this.reply(data, t2);
      this.expectCommand();
    });
  }

  /** N+1 bytes (a multiple of 4) at `address`, checksum XOR(N, data). */
  private writeMemory(address: number, n: number, rest: Buffer, t: number): void {
    const data = rest.subarray(0, rest.length - 1);
    if ((xor(data) ^ n ^ rest[rest.length - 1]!) !== 0 || data.length % 4 !== 0) {
      this.nack(t);
      return;
    }
    if (!this.memory.writable(address, data.length)) {
      this.nack(t);
      return;
    }
    const inFlash = this.memory.region(address, data.length) === "flash";
    const bad = inFlash ? takeCounted(this.faults, "bad-write") : undefined;
    let landed: Buffer | undefined = data;
    if (bad !== undefined) {
      landed = bad.damage === "flip" ? Buffer.from(data) : undefined;
      if (landed !== undefined) landed[0]! ^= 0x01;
    }
    if (landed !== undefined && this.memory.write(address, landed) !== "ok") {
      this.nack(t);
      return;
    }
    const chip = this.memory.chip;
    this.ackAfter(t, inFlash ? (Math.ceil(data.length / chip.progUnit) * chip.progUs) / 1000 : 0);
  }

  private systemReset(): void {
    this.want = Number.POSITIVE_INFINITY;
    this.wire.after(() => {
      this.options.onSystemReset();
    });
  }
}
