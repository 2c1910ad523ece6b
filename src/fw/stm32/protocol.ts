/**
 * The host side of the STM32 ROM bootloader's USART protocol (AN3155), lock-step over a
 * ByteTransport: every command and packet waits for its ACK (0x79) or NACK (0x1F) before the next.
 * Timeouts grow with the wire time of what is awaited at the link's baud rate (11 bits per byte).
 */
import type { ByteTransport } from "../../transports/transport.js";

export const ACK = 0x79;
export const NACK = 0x1f;

/** Why a bootloader exchange failed. */
export class BootloaderError extends Error {
  override readonly name = "BootloaderError";
  readonly kind: "nack" | "timeout" | "protocol" | "closed";
  /** Write Memory failed after its data went out: the flash may hold some of it. */
  readonly dataSent: boolean;

  constructor(kind: BootloaderError["kind"], message: string, dataSent = false) {
    super(message);
    this.kind = kind;
    this.dataSent = dataSent;
  }
}

/** XOR of all bytes (AN3155's checksum). */
export function xorOf(bytes: Uint8Array): number {
  let x = 0;
  for (const b of bytes) x ^= b;
  return x;
}

/** Buffers what the transport receives and hands it out n bytes at a time, with timeouts. */
export class ByteReader {
  private buffer: Buffer = Buffer.alloc(0);
  private waiter:
    | { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
    | undefined;
  private readonly transport: ByteTransport;
  private readonly onData = (chunk: Buffer): void => {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.check();
  };
  private readonly onClose = (): void => {
    const w = this.waiter;
    this.waiter = undefined;
    if (w !== undefined) {
      clearTimeout(w.timer);
      w.reject(new BootloaderError("closed", `${this.transport.path} closed`));
    }
  };

  constructor(transport: ByteTransport) {
    this.transport = transport;
    transport.on("data", this.onData);
    transport.on("close", this.onClose);
  }

  /** Resolves with exactly `n` bytes, or rejects after `timeoutMs` without them. */
  read(n: number, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        const got = this.buffer.length;
        reject(
          new BootloaderError(
            "timeout",
            `no answer within ${Math.round(timeoutMs)} ms (${got} of ${n} bytes)`,
          ),
        );
      }, timeoutMs);
      this.waiter = { n, resolve, reject, timer };
      this.check();
    });
  }

  /** Discards what has arrived and not been read. */
  discard(): void {
    this.buffer = Buffer.alloc(0);
  }

  dispose(): void {
    this.transport.off("data", this.onData);
    this.transport.off("close", this.onClose);
    if (this.waiter !== undefined) clearTimeout(this.waiter.timer);
    this.waiter = undefined;
  }

  private check(): void {
    const w = this.waiter;
    if (w === undefined || this.buffer.length < w.n) return;
    this.waiter = undefined;
    clearTimeout(w.timer);
    const out = Buffer.from(this.buffer.subarray(0, w.n));
    this.buffer = this.buffer.subarray(w.n);
    w.resolve(out);
  }
}

export interface ClientTimeouts {
  /** Waiting for an ACK of a command or packet, beyond wire time (AN3155 gives none; stm32flash 1 s). */
  ackMs: number;
  /** Waiting for the answer to 0x7F. */
  syncMs: number;
}

/** What Get answers. */
export interface GetInfo {
  version: number;
  commands: number[];
}

/** AN3155 commands over a transport. */
export class Stm32Client {
  readonly transport: ByteTransport;
  readonly reader: ByteReader;
  private readonly byteMs: number;
  private readonly timeouts: ClientTimeouts;

  constructor(transport: ByteTransport, baud: number, timeouts: Partial<ClientTimeouts> = {}) {
    this.transport = transport;
    this.reader = new ByteReader(transport);
    this.byteMs = 11_000 / baud;
    this.timeouts = { ackMs: 1000, syncMs: 250, ...timeouts };
  }

  /** Sends 0x7F; ACK is a fresh sync, NACK a bootloader already synchronised (0x7F taken as a command). */
  async sync(): Promise<"ack" | "nack"> {
    this.reader.discard();
    await this.transport.write(Buffer.from([0x7f]));
    const b = (await this.reader.read(1, this.timeouts.syncMs + 2 * this.byteMs))[0];
    if (b === ACK) return "ack";
    if (b === NACK) return "nack";
    throw new BootloaderError("protocol", `answer 0x${hex(b)} to 0x7F`);
  }

  async get(): Promise<GetInfo> {
    await this.command(0x00);
    const n = (await this.read(1))[0]!;
    const rest = await this.read(n + 1);
    await this.ack();
    return { version: rest[0]!, commands: [...rest.subarray(1)] };
  }

  async getVersion(): Promise<number> {
    await this.command(0x01);
    const b = await this.read(3);
    await this.ack();
    return b[0]!;
  }

  async getId(): Promise<number> {
    await this.command(0x02);
    const n = (await this.read(1))[0]!;
    const pid = await this.read(n + 1);
    await this.ack();
    return pid.readUInt16BE(0);
  }

  async readMemory(address: number, length: number): Promise<Buffer> {
    await this.command(0x11);
    await this.sendAddress(address);
    await this.send([length - 1, (length - 1) ^ 0xff]);
    await this.ack();
    return this.read(length);
  }

  /** Writes up to 256 bytes (padded with 0xFF to a multiple of 4) at a 4-aligned address. */
  async writeMemory(address: number, data: Uint8Array, ackMs = this.timeouts.ackMs): Promise<void> {
    const padded = Buffer.alloc((data.length + 3) & ~3, 0xff);
    padded.set(data);
    await this.command(0x31);
    await this.sendAddress(address);
    const packet = Buffer.alloc(padded.length + 2);
    packet[0] = padded.length - 1;
    padded.copy(packet, 1);
    packet[packet.length - 1] = xorOf(packet.subarray(0, packet.length - 1));
    await this.send(packet);
    try {
      await this.ack(ackMs);
    } catch (e) {
      throw e instanceof BootloaderError ? new BootloaderError(e.kind, e.message, true) : e;
    }
  }

  /**
   * Erases pages with Erase (0x43: at most 255 pages, numbered 0–255 in one byte) or Extended Erase
   * (0x44: two-byte numbers below 0xFFF0). A page number the command cannot carry is a RangeError,
   * never sent truncated: 0x43 would erase page 256 as page 0.
   */
  async erase(code: 0x43 | 0x44, pages: readonly number[], ackMs: number): Promise<void> {
    const [maxCount, maxPage] = code === 0x43 ? [255, 0xff] : [0xfff0, 0xffef];
    const bad = pages.find((p) => !Number.isInteger(p) || p < 0 || p > maxPage);
    if (pages.length === 0 || pages.length > maxCount || bad !== undefined)
      throw new RangeError(
        bad === undefined
          ? `Erase 0x${code.toString(16)} takes 1 to ${maxCount} pages, not ${pages.length}`
          : `Erase 0x${code.toString(16)} cannot number page ${bad} (at most ${maxPage})`,
      );
    await this.command(code);
    let packet: Buffer;
    if (code === 0x43) {
      packet = Buffer.from([pages.length - 1, ...pages, 0]);
    } else {
      packet = Buffer.alloc(2 + 2 * pages.length + 1);
      packet.writeUInt16BE(pages.length - 1, 0);
      pages.forEach((p, i) => packet.writeUInt16BE(p, 2 + 2 * i));
    }
    packet[packet.length - 1] = xorOf(packet.subarray(0, packet.length - 1));
    await this.send(packet);
    try {
      await this.ack(ackMs);
    } catch (e) {
      throw e instanceof BootloaderError ? new BootloaderError(e.kind, e.message, true) : e;
    }
  }

  /** Erases the whole flash: Erase (0x43) `FF 00`, Extended Erase (0x44) `FF FF 00`. */
  async massErase(code: 0x43 | 0x44, ackMs: number): Promise<void> {
    await this.command(code);
    await this.send(code === 0x43 ? [0xff, 0x00] : [0xff, 0xff, 0x00]);
    await this.ack(ackMs);
  }

  async go(address: number): Promise<void> {
    await this.command(0x21);
    await this.sendAddress(address);
  }

  dispose(): void {
    this.reader.dispose();
  }

  private async command(code: number): Promise<void> {
    this.reader.discard();
    await this.send([code, code ^ 0xff]);
    await this.ack();
  }

  private async sendAddress(address: number): Promise<void> {
    const b = Buffer.alloc(5);
    b.writeUInt32BE(address >>> 0, 0);
    b[4] = xorOf(b.subarray(0, 4));
    await this.send(b);
    await this.ack();
  }

  private async send(bytes: number[] | Buffer): Promise<void> {
    await this.transport.write(Buffer.from(bytes));
  }

  private read(n: number): Promise<Buffer> {
    return this.reader.read(n, this.timeouts.ackMs + n * this.byteMs);
  }

  private async ack(ackMs = this.timeouts.ackMs): Promise<void> {
    const b = (await this.reader.read(1, ackMs + 2 * this.byteMs))[0];
    if (b === ACK) return;
    if (b === NACK) throw new BootloaderError("nack", "NACK");
    throw new BootloaderError("protocol", `0x${hex(b)} where ACK or NACK was due`);
  }
}

function hex(b: number | undefined): string {
  return (b ?? 0).toString(16).padStart(2, "0");
}
