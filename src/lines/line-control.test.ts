import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import { isCcmError } from "../errors.js";
import type { ByteTransport } from "../transports/transport.js";
import { GpiodLines, ModemLines, NoLines, SimLines, parseLineControl } from "./line-control.js";
import { fakeGpiod } from "../../test/helpers/fake-gpiod.js";
import { until } from "../../test/helpers/daemon.js";

test("--lines specs name their backend; bad ones say what is accepted", () => {
  assert.ok(parseLineControl("none") instanceof NoLines);
  assert.ok(parseLineControl("dtr-rts") instanceof ModemLines);
  assert.ok(parseLineControl("rts-dtr:inv-boot0") instanceof ModemLines);
  assert.ok(parseLineControl("gpiod:gpiochip0:17,27") instanceof GpiodLines);
  assert.ok(parseLineControl("sim:127.0.0.1:4000") instanceof SimLines);
  for (const bad of ["gpio:1,2", "gpiod:gpiochip0:17", "dtr-rts:inv-x", "sim:"]) {
    assert.throws(
      () => parseLineControl(bad),
      (e: unknown) => isCcmError(e, "BAD_ARGUMENT") && /expected none, dtr-rts/.test(e.message),
      bad,
    );
  }
  assert.throws(
    () => parseLineControl("sim:host:port"),
    (e: unknown) =>
      isCcmError(e, "BAD_ARGUMENT") && /expected HOST:PORT, PORT or a socket path/.test(e.message),
  );
});

test("dtr-rts asserts DTR to hold reset and deasserts RTS for BOOT0 high, sending both signals each time so BOOT0 stays high through the reset; inv-boot0 flips BOOT0", async () => {
  const calls: object[] = [];
  const port = Object.assign(new EventEmitter(), {
    setSignals: (s: object) => {
      calls.push(s);
      return Promise.resolve();
    },
  }) as unknown as ByteTransport;
  const plain = parseLineControl("dtr-rts");
  plain.attach?.(port);
  await plain.setBoot0(true);
  await plain.setReset(true);
  await plain.setReset(false);
  const inverted = parseLineControl("dtr-rts:inv-boot0");
  inverted.attach?.(port);
  await inverted.setBoot0(true);
  const swapped = parseLineControl("rts-dtr");
  swapped.attach?.(port);
  await swapped.setBoot0(true);
  await swapped.setReset(true);
  assert.deepEqual(calls, [
    // dtr-rts: BOOT0 high, reset held (BOOT0 still high), reset released
    { dtr: true, rts: false },
    { dtr: true, rts: false },
    { dtr: false, rts: false },
    // dtr-rts:inv-boot0: BOOT0 high asserts RTS
    { dtr: true, rts: true },
    // rts-dtr: BOOT0 high deasserts DTR, the reset asserts RTS and leaves DTR deasserted
    { dtr: false, rts: true },
    { dtr: false, rts: true },
  ]);
});

for (const major of [1, 2] as const) {
  test(`gpiod lines hold RST low for reset and BOOT0 high, each with a gpioset in libgpiod ${major}.x syntax`, async (t) => {
    const fake = await fakeGpiod(t, major);
    const lines = parseLineControl("gpiod:gpiochip0:17,27", fake.spawner);
    await lines.setBoot0(true);
    await lines.setReset(true);
    await until(async () => (await fake.levels("gpiochip0", 17)).length === 1, "RST driven");
    await lines.setReset(false);
    await until(async () => (await fake.levels("gpiochip0", 17)).length === 2, "RST released");
    await lines.close();
    await until(async () => (await fake.holders()).length === 0, "both lines released");
    const boot0 = await fake.levels("gpiochip0", 27);
    const rst = await fake.levels("gpiochip0", 17);
    assert.deepEqual(
      boot0.map((l) => l.level),
      [1],
    );
    assert.deepEqual(
      rst.map((l) => l.level),
      [0, 1],
    );
    assert.ok(boot0[0]!.t <= rst[1]!.t, "BOOT0 is high before RST is released");
    // BOOT0 and the RST pulse are driven by processes started back to back: which one logs first is
    // up to the scheduler, so the first two are compared as a set; the release comes last.
    const sets = (await fake.calls()).map((c) => [c.tool, ...c.argv].join(" "));
    const syntax = major === 1 ? "gpioset --mode=signal gpiochip0" : "gpioset --banner --chip gpiochip0";
    assert.equal(sets.length, 4, sets.join("; "));
    assert.equal(sets[0], "gpioset --version");
    assert.deepEqual([...sets.slice(1, 3)].sort(), [`${syntax} 17=0`, `${syntax} 27=1`]);
    assert.equal(sets[3], `${syntax} 17=1`);
  });
}
