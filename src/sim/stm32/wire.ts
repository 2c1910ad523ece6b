/**
 * The emulated bootloader's end of the UART on a virtual timeline. With a baud rate every byte takes
 * 11 bit times (8E1) each way: a byte cannot arrive before the previous one has, nor before the answer
 * the host waited for went out. Answers are queued with the time their last byte would arrive and
 * written then, at most {@link SLACK_MS} early (timers are coarse). Without pacing everything is
 * answered at once.
 */

/** Answers may be written this much before their wire time (Node timers have 1 ms resolution). */
export const SLACK_MS = 1;

/** XOR of all bytes (AN3155's checksum). */
export function xor(bytes: Uint8Array): number {
  let x = 0;
  for (const b of bytes) x ^= b;
  return x;
}

/** Counters tests can read. */
export interface BootloaderStats {
  commands: number;
  nacks: number;
  bytesIn: number;
  bytesOut: number;
}

interface Pending {
  due: number;
  bytes?: Buffer;
  action?: () => void;
}

/** Bytes in and out of the bootloader, paced at the wire's speed. */
export class PacedWire {
  readonly stats: BootloaderStats = { commands: 0, nacks: 0, bytesIn: 0, bytesOut: 0 };
  /** Wire time of one byte in ms (0: unpaced). */
  readonly byteMs: number;
  readonly now: () => number;
  private readonly send: (bytes: Buffer) => void;
  private rxAt = 0;
  private txAt = 0;
  private readonly queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(send: (bytes: Buffer) => void, byteMs: number, now: () => number) {
    this.send = send;
    this.byteMs = byteMs;
    this.now = now;
  }

  /** When the next byte from the host, handed over at `now`, has arrived. */
  arrival(now: number): number {
    this.stats.bytesIn++;
    this.rxAt = Math.max(now, this.rxAt, this.txAt) + this.byteMs;
    return this.rxAt;
  }

  /** Queues bytes to go out no earlier than `at`, after everything queued before. */
  reply(bytes: readonly number[] | Buffer, at: number): void {
    if (bytes.length === 0) return;
    const start = Math.max(at, this.txAt);
    this.txAt = start + bytes.length * this.byteMs;
    this.queue.push({ due: this.txAt, bytes: Buffer.from(bytes) });
  }

  /** Runs `action` once everything queued so far is on the wire (and `delayMs` more). */
  after(action: () => void, delayMs = 0): void {
    this.queue.push({ due: Math.max(this.txAt, this.rxAt) + delayMs, action });
  }

  /** A duration that only counts when pacing. */
  ms(value: number): number {
    return this.byteMs === 0 ? 0 : value;
  }

  /** Writes what is due and arms a timer for the rest. */
  pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped) return;
    const now = this.now();
    while (this.queue.length > 0 && this.queue[0]!.due <= now + SLACK_MS) {
      const p = this.queue.shift()!;
      if (p.bytes !== undefined) {
        this.stats.bytesOut += p.bytes.length;
        this.send(p.bytes);
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

  /** Drops what is queued and sends nothing more. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.queue.length = 0;
  }

  /** Read through a method: an action run by pump() may stop the wire. */
  private isStopped(): boolean {
    return this.stopped;
  }
}
