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

test("dtr-rts asserts DTR to hold reset and deasserts RTS for BOOT0 high; inv-boot0 flips BOOT0", async () => {
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
  assert.deepEqual(calls, [{ rts: false }, { dtr: true }, { dtr: false }, { rts: true }]);
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
    assert.deepEqual(
      (await fake.levels("gpiochip0", 27)).map((l) => l.level),
      [1],
    );
    assert.deepEqual(
      (await fake.levels("gpiochip0", 17)).map((l) => l.level),
      [0, 1],
    );
    const sets = (await fake.calls()).map((c) => [c.tool, ...c.argv].join(" "));
    assert.deepEqual(
      sets,
      major === 1
        ? [
            "gpioset --version",
            "gpioset --mode=signal gpiochip0 27=1",
            "gpioset --mode=signal gpiochip0 17=0",
            "gpioset --mode=signal gpiochip0 17=1",
          ]
        : [
            "gpioset --version",
            "gpioset --banner --chip gpiochip0 27=1",
            "gpioset --banner --chip gpiochip0 17=0",
            "gpioset --banner --chip gpiochip0 17=1",
          ],
    );
  });
}
