import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff } from "./backoff.js";

/** A random source that returns `values` in turn, again from the start when they run out. */
function cycle(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
}

test("the ceiling doubles from minMs with each attempt and stops at maxMs", () => {
  const top = new Backoff(100, 1000, () => 1);
  assert.deepEqual(
    Array.from({ length: 7 }, () => top.next()),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
});

test("the floor stays at minMs whatever the attempt", () => {
  const bottom = new Backoff(100, 1000, () => 0);
  assert.deepEqual(
    Array.from({ length: 6 }, () => bottom.next()),
    [100, 100, 100, 100, 100, 100],
  );
});

test("delays are spread over the whole range between minMs and the ceiling (full jitter)", () => {
  const spread = Array.from({ length: 101 }, (_, i) => i / 100);
  const delays: number[] = [];
  for (const r of spread) {
    const b = new Backoff(1000, 60_000, () => r);
    for (let k = 0; k < 4; k++) b.next();
    delays.push(b.next()); // the fifth attempt: ceiling 16 s
  }
  assert.equal(Math.min(...delays), 1000);
  assert.equal(Math.max(...delays), 16_000);
  assert.equal(new Set(delays).size, 101, "each random value gives its own delay");
  assert.equal(delays[50], 8500, "the middle of the range for the middle random value");
});

test("no delay leaves [minMs, maxMs], however many attempts", () => {
  const b = new Backoff(250, 60_000, cycle([0, 0.13, 0.5, 0.77, 0.999_999]));
  for (let i = 0; i < 200; i++) {
    const d = b.next();
    assert.ok(d >= 250 && d <= 60_000, `attempt ${i}: ${d}`);
  }
});

test("reset() starts again from minMs", () => {
  const b = new Backoff(100, 10_000, () => 1);
  for (let i = 0; i < 5; i++) b.next();
  assert.equal(b.next(), 3200);
  b.reset();
  assert.equal(b.next(), 100);
  assert.equal(b.next(), 200);
});
