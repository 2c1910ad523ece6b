import assert from "node:assert/strict";
import { test } from "node:test";
import type { Level, OutputLine } from "../lines/digital-line.js";
import { ManualClock } from "../../test/helpers/manual-clock.js";
import { StatusLed } from "./status-led.js";

/** A line recording each level with the time it was written. */
class RecordingLine implements OutputLine {
  writes: { at: number; level: Level }[] = [];
  closed = false;
  private readonly clock: ManualClock;
  constructor(clock: ManualClock) {
    this.clock = clock;
  }
  write(level: Level): void {
    this.writes.push({ at: this.clock.now(), level });
  }
  close(): void {
    this.closed = true;
  }
}

/** A line that blinks by itself (libgpiod 2.x gpioset --toggle): records what it was told. */
class BlinkingLine extends RecordingLine {
  blinks: { first: Level; halfMs: number }[] = [];
  blink(first: Level, halfMs: number): void {
    this.blinks.push({ first, halfMs });
  }
}

test("state 1 (network configured) blinks every 0.5 s: on 250 ms, off 250 ms", () => {
  const clock = new ManualClock();
  const line = new RecordingLine(clock);
  new StatusLed(line, clock, true).show(1, 2);
  clock.advance(1000);
  assert.deepEqual(line.writes, [
    { at: 0, level: 1 },
    { at: 250, level: 0 },
    { at: 500, level: 1 },
    { at: 750, level: 0 },
    { at: 1000, level: 1 },
  ]);
});

test("each state below the stable one has its rate: 1 s, 0.5 s, 0.25 s; the stable state is solid", () => {
  const clock = new ManualClock();
  const line = new RecordingLine(clock);
  const led = new StatusLed(line, clock, true);
  const togglesIn1s = (state: number): number => {
    led.show(state, 3);
    const from = line.writes.length;
    clock.advance(1000);
    return line.writes.length - from;
  };
  assert.deepEqual([togglesIn1s(0), togglesIn1s(1), togglesIn1s(2)], [2, 4, 8]);
  led.show(3, 3);
  const from = line.writes.length;
  clock.advance(5000);
  assert.deepEqual(line.writes.slice(from - 1), [{ at: 3000, level: 1 }], "solid on, no more writes");
});

test("active_high false: the LED is lit by driving the line low", () => {
  const clock = new ManualClock();
  const line = new RecordingLine(clock);
  const led = new StatusLed(line, clock, false);
  led.show(0, 2);
  clock.advance(1000);
  assert.deepEqual(
    line.writes.map((w) => w.level),
    [0, 1, 0],
    "lit (low) first, then dark (high)",
  );
  led.show(2, 2);
  assert.equal(line.writes.at(-1)?.level, 0, "solid on is low");
  led.close();
  assert.equal(line.writes.at(-1)?.level, 1, "off is high");
  assert.equal(line.closed, true);
});

test("a line that blinks by itself is told the pattern once per state, not toggled from here", () => {
  const clock = new ManualClock();
  const line = new BlinkingLine(clock);
  const led = new StatusLed(line, clock, false);
  led.show(1, 2);
  led.show(1, 2);
  clock.advance(5000);
  assert.deepEqual(line.blinks, [{ first: 0, halfMs: 250 }]);
  assert.deepEqual(line.writes, []);
  led.show(0, 2);
  assert.deepEqual(line.blinks.at(-1), { first: 0, halfMs: 500 });
  led.show(2, 2);
  assert.deepEqual(line.writes, [{ at: 5000, level: 0 }]);
  assert.equal(clock.pending, 0, "no timers of its own");
});
