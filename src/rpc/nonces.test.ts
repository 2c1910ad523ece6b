import assert from "node:assert/strict";
import { test } from "node:test";
import type { Clock } from "../util/clock.js";
import { NonceBook } from "./nonces.js";

function fakeClock(start = 1_700_000_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => now, setTimeout: () => 0, clearTimeout: () => undefined, advance: (ms) => (now += ms) };
}

test("a nonce is a safe integer, used once (or with a growing count), and dies after its lifetime", () => {
  const clock = fakeClock();
  const book = new NonceBook({ ttlMs: 60_000, clock });
  const n = book.issue();
  assert.ok(Number.isSafeInteger(Number(n)) && String(Number(n)) === n, n);
  assert.notEqual(book.issue(), n, "two nonces issued at once differ");
  assert.ok(book.usable(n, 1));
  book.spend(n, 1);
  assert.ok(!book.usable(n, 1), "spent");
  assert.ok(book.usable(n, 2), "HTTP Digest: the next count");
  const late = book.issue();
  clock.advance(60_000);
  assert.ok(!book.usable(late, 1), "expired");
});

test("nonces we did not issue, or issued by another process, are refused", () => {
  const clock = fakeClock();
  const book = new NonceBook({ ttlMs: 60_000, clock });
  const other = new NonceBook({ ttlMs: 60_000, clock });
  const theirs = other.issue();
  assert.ok(!book.usable(theirs, 1));
  for (const bad of ["1611048949", "0", "00123", "-5", "1e9", "9007199254740993", "abc", ""])
    assert.ok(!book.usable(bad, 1), bad);
});

test("a spent nonce stays spent a whole time cycle later, when its time bits come round again", () => {
  const clock = fakeClock();
  const book = new NonceBook({ ttlMs: 60_000, clock });
  const n = book.issue();
  book.spend(n, 1);
  clock.advance(2 ** 21 * 125);
  assert.ok(!book.usable(n, 1));
});

test("a flood of issued nonces keeps no state; a full table of spent ones refuses old nonces, never replays", () => {
  const clock = fakeClock();
  const book = new NonceBook({ ttlMs: 60_000, clock, maxUsed: 4 });
  const held = book.issue();
  for (let i = 0; i < 20_000; i++) book.issue();
  assert.ok(book.usable(held, 1), "held across a flood of challenges");
  const spent: string[] = [];
  for (let i = 0; i < 4; i++) {
    clock.advance(1000);
    const n = book.issue();
    book.spend(n, 1);
    spent.push(n);
  }
  clock.advance(1000);
  const fresh = book.issue();
  book.spend(fresh, 1);
  for (const n of [...spent, fresh]) assert.ok(!book.usable(n, 1), `${n} is not usable again`);
  assert.ok(!book.usable(held, 1), "older than a forgotten use: refused, the caller gets a new challenge");
  assert.ok(book.usable(book.issue(), 1));
});
