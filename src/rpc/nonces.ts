/**
 * Digest nonces that cost nothing to issue: the issue time and a serial number, signed with a key of
 * this process. Only nonces that were used are remembered (single use; for HTTP Digest, a count that
 * must grow), and only a caller whose credentials checked out can use one, so a flood of
 * unauthenticated calls, each answered with a challenge, takes nothing from a caller holding a nonce.
 */
import { createHmac, randomBytes } from "node:crypto";
import type { Clock } from "../util/clock.js";

// A nonce is an integer below 2^53, as mos parses it into an int and JavaScript reads it exactly:
// 21 bits of issue time in 1/8 s ticks (a 72-hour cycle), 11 bits of serial, 21 bits of HMAC.
const TICK_MS = 125;
const TICKS = 2 ** 21;
const SERIALS = 2 ** 11;
const MACS = 2 ** 21;

interface Used {
  issuedTick: number;
  lastNc: number;
}

/** Issues and checks nonces; remembers the used ones until they expire (at most `maxUsed`). */
export class NonceBook {
  private readonly key = randomBytes(32);
  private readonly used = new Map<number, Used>();
  private readonly ttlMs: number;
  private readonly clock: Clock;
  private readonly maxUsed: number;
  private serial = 0;
  /** Nonces issued at or before this tick count as used: the table had to forget some. */
  private floorTick = -Infinity;

  constructor(o: { ttlMs: number; clock: Clock; maxUsed?: number }) {
    if (!(o.ttlMs > 0 && o.ttlMs < (TICKS * TICK_MS) / 2))
      throw new RangeError(`nonce lifetime ${o.ttlMs} ms`);
    this.ttlMs = o.ttlMs;
    this.clock = o.clock;
    this.maxUsed = o.maxUsed ?? 10_000;
  }

  /** A fresh nonce, as decimal text. */
  issue(): string {
    const tick = Math.floor(this.clock.now() / TICK_MS);
    const serial = this.serial;
    this.serial = (this.serial + 1) % SERIALS;
    return String(((tick % TICKS) * SERIALS + serial) * MACS + this.mac(tick, serial));
  }

  /** Whether `nonce` is one of ours, unexpired, and not used yet with a count of `nc` or more. */
  usable(nonce: string, nc: number): boolean {
    const n = this.decode(nonce);
    if (n === undefined) return false;
    const lastNc = this.used.get(n.value)?.lastNc ?? 0;
    return n.issuedTick > this.floorTick && nc > lastNc;
  }

  /** Records a use of `nonce` with count `nc`, once the credentials that came with it checked out. */
  spend(nonce: string, nc: number): void {
    const n = this.decode(nonce);
    if (n === undefined) return;
    const seen = this.used.get(n.value);
    if (seen !== undefined) {
      seen.lastNc = nc;
      return;
    }
    if (this.used.size >= this.maxUsed) this.makeRoom();
    this.used.set(n.value, { issuedTick: n.issuedTick, lastNc: nc });
  }

  /** The nonce's value and full issue tick when it is ours and unexpired. */
  private decode(nonce: string): { value: number; issuedTick: number } | undefined {
    if (!/^[1-9]\d{0,15}$/.test(nonce)) return undefined;
    const value = Number(nonce);
    if (!Number.isSafeInteger(value)) return undefined;
    const mac = value % MACS;
    const serial = Math.floor(value / MACS) % SERIALS;
    const low = Math.floor(value / (MACS * SERIALS));
    const now = this.clock.now();
    const nowTick = Math.floor(now / TICK_MS);
    // The most recent tick with these low bits: a nonce from a cycle ago fails the MAC.
    const issuedTick = nowTick - ((((nowTick - low) % TICKS) + TICKS) % TICKS);
    if (this.mac(issuedTick, serial) !== mac) return undefined;
    if (issuedTick * TICK_MS + this.ttlMs <= now) return undefined;
    return { value, issuedTick };
  }

  /** Forgets expired uses; if none expired, the oldest, and refuses every nonce as old as it. */
  private makeRoom(): void {
    const expiredBefore = Math.floor((this.clock.now() - this.ttlMs) / TICK_MS);
    for (const [value, u] of this.used) if (u.issuedTick <= expiredBefore) this.used.delete(value);
    if (this.used.size < this.maxUsed) return;
    const [value, oldest] = this.used.entries().next().value!;
    this.used.delete(value);
    this.floorTick = Math.max(this.floorTick, oldest.issuedTick);
  }

  private mac(tick: number, serial: number): number {
    const h = createHmac("sha256", this.key).update(`${tick}:${serial}`).digest();
    return h.readUIntBE(0, 3) % MACS;
  }
}
