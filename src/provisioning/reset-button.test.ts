import assert from "node:assert/strict";
import { test } from "node:test";
import type { InputLine, Level } from "../lines/digital-line.js";
import { ManualClock } from "../../test/helpers/manual-clock.js";
import { ResetButton } from "./reset-button.js";

/** A button line the test presses and releases; records reads and watches. */
class FakeButton implements InputLine {
  level: Level;
  watching: ((l: Level) => void) | undefined;
  constructor(level: Level) {
    this.level = level;
  }
  read(): Promise<Level> {
    return Promise.resolve(this.level);
  }
  watch(onChange: (l: Level) => void): () => void {
    this.watching = onChange;
    return () => (this.watching = undefined);
  }
  set(l: Level): void {
    this.level = l;
    this.watching?.(l);
  }
}

function rig(initial: Level, holdMs: number, activeLow = true) {
  const line = new FakeButton(initial);
  const clock = new ManualClock();
  const resets: number[] = [];
  const button = new ResetButton({ line, clock, holdMs, activeLow, onReset: () => resets.push(clock.now()) });
  return { line, clock, resets, button };
}

test("holding the button low for hold_ms triggers one factory reset", async () => {
  const { line, clock, resets, button } = rig(1, 5000);
  await button.start();
  line.set(0);
  clock.advance(4999);
  assert.deepEqual(resets, []);
  clock.advance(1);
  assert.deepEqual(resets, [5000]);
  assert.equal(line.watching, undefined, "the watcher stops after firing");
});

test("releasing the button early cancels the reset, and pressing again starts the count anew", async () => {
  const { line, clock, resets, button } = rig(1, 5000);
  await button.start();
  line.set(0);
  clock.advance(3000);
  line.set(1);
  clock.advance(10_000);
  assert.deepEqual(resets, []);
  line.set(0);
  clock.advance(5000);
  assert.deepEqual(resets, [18_000]);
});

test("with hold_ms 0 the reset happens only when the button is held as the CCM starts", async () => {
  const held = rig(0, 0);
  await held.button.start();
  assert.deepEqual(held.resets, [0]);
  const idle = rig(1, 0);
  await idle.button.start();
  idle.line.set(0);
  idle.clock.advance(60_000);
  assert.deepEqual(idle.resets, []);
});

test("a button wired active-high resets when held high", async () => {
  const { line, clock, resets, button } = rig(0, 100, false);
  await button.start();
  line.set(1);
  clock.advance(100);
  assert.deepEqual(resets, [100]);
});

test("a button already held when the CCM starts (the press that reset it) counts only once released and pressed again", async () => {
  const { line, clock, resets, button } = rig(0, 2000);
  await button.start();
  clock.advance(10_000);
  assert.deepEqual(resets, [], "one long press is one reset, however long it lasts");
  line.set(1);
  line.set(0);
  clock.advance(2000);
  assert.deepEqual(resets, [12_000]);
  button.stop();
});
