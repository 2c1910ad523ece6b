import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { fakeGpiod } from "../../test/helpers/fake-gpiod.js";
import { until } from "../../test/helpers/daemon.js";
import { GpiodInput, GpiodOutput, GpiodTools, parseGpiodVersion } from "./gpiod.js";
import type { Level } from "./digital-line.js";

test("gpioset --version tells 1.x from 2.x; tools that cannot say count as 1.x", async (t) => {
  assert.equal(parseGpiodVersion("gpioset (libgpiod) v1.6.3\nCopyright (C) 2017-2018"), 1);
  assert.equal(parseGpiodVersion("gpioset (libgpiod) v2.1.3\n"), 2);
  assert.equal(parseGpiodVersion("gpioset (libgpiod) 2.2\n"), 2);
  assert.equal(parseGpiodVersion("bash: gpioset: command not found"), undefined);
  for (const major of [1, 2] as const) {
    const fake = await fakeGpiod(t, major);
    assert.equal(await new GpiodTools(fake.spawner).version(), major);
  }
  const none = new GpiodTools((file, args) => spawn(`/nonexistent/${file}`, [...args]));
  assert.equal(await none.version(), 1);
});

for (const major of [1, 2] as const) {
  test(`libgpiod ${major}.x: the button is read with gpioget and watched with gpiomon in ${major}.x syntax, and presses arrive at once`, async (t) => {
    const fake = await fakeGpiod(t, major);
    const tools = new GpiodTools(fake.spawner);
    const button = new GpiodInput("gpiochip0", 17, true, tools);
    assert.equal(await button.read(), 1, "the pull-up holds an idle button high");
    await fake.setInput("gpiochip0", 17, 0);
    assert.equal(await button.read(), 0);
    await fake.setInput("gpiochip0", 17, 1);
    const levels: Level[] = [];
    const errors: unknown[] = [];
    const stop = button.watch(
      (l) => levels.push(l),
      (e) => errors.push(e),
    );
    await until(async () => (await fake.holders()).length === 1, "gpiomon to take the line");
    await fake.setInput("gpiochip0", 17, 0);
    await until(() => levels.length === 1, "the press, without waiting for a buffer to fill", 10_000);
    await fake.setInput("gpiochip0", 17, 1);
    await until(() => levels.length === 2, "the release", 10_000);
    stop();
    assert.deepEqual(levels, [0, 1]);
    await until(async () => (await fake.holders()).length === 0, "gpiomon to exit");
    assert.deepEqual(errors, []);
    const argv = (await fake.calls()).map((c) => [c.tool, ...c.argv].join(" "));
    assert.deepEqual(
      argv,
      major === 1
        ? [
            "gpioset --version",
            "gpioget -B pull-up gpiochip0 17",
            "gpioget -B pull-up gpiochip0 17",
            "gpiomon -b -B pull-up gpiochip0 17",
          ]
        : [
            "gpioset --version",
            "gpioget --bias=pull-up --chip gpiochip0 17",
            "gpioget --bias=pull-up --chip gpiochip0 17",
            "gpiomon --bias=pull-up --chip gpiochip0 17",
          ],
    );
  });

  test(`libgpiod ${major}.x: an output is held by one gpioset at a time, a new level only after the last holder exited`, async (t) => {
    const fake = await fakeGpiod(t, major);
    const errors: unknown[] = [];
    const led = new GpiodOutput("gpiochip1", 4, new GpiodTools(fake.spawner), (e) => errors.push(e));
    await led.drive(1);
    // The fake is a node process, slower to set its line than the real tool: wait for it.
    await until(async () => (await fake.levels("gpiochip1", 4)).length === 1, "the line driven high");
    await led.drive(1);
    await led.drive(0);
    await until(async () => (await fake.levels("gpiochip1", 4)).length === 2, "the line driven low");
    led.close();
    await until(async () => (await fake.holders()).length === 0, "the line released");
    assert.deepEqual(errors, [], "never busy: each gpioset waited for the one before");
    assert.deepEqual(
      (await fake.levels("gpiochip1", 4)).map((l) => l.level),
      [1, 0],
    );
    const sets = (await fake.calls()).filter((c) => c.tool === "gpioset").map((c) => c.argv.join(" "));
    assert.deepEqual(
      sets,
      major === 1
        ? ["--version", "--mode=signal gpiochip1 4=1", "--mode=signal gpiochip1 4=0"]
        : ["--version", "--banner --chip gpiochip1 4=1", "--banner --chip gpiochip1 4=0"],
    );
  });
}

test("libgpiod 2.x blinks with one gpioset --toggle, not a process per toggle", async (t) => {
  const fake = await fakeGpiod(t, 2);
  const led = new GpiodOutput("gpiochip0", 6, new GpiodTools(fake.spawner));
  await led.driveBlink(1, 100);
  await until(async () => (await fake.levels("gpiochip0", 6)).length >= 6, "six levels", 5000);
  led.close();
  await until(async () => (await fake.holders()).length === 0, "the line released");
  const levels = await fake.levels("gpiochip0", 6);
  assert.deepEqual(
    levels.slice(0, 6).map((l) => l.level),
    [1, 0, 1, 0, 1, 0],
  );
  const gaps = levels.slice(1, 6).map((l, i) => l.t - levels[i]!.t);
  assert.ok(
    gaps.every((g) => g >= 90),
    `toggles every 100 ms: ${gaps.join(" ")}`,
  );
  const sets = (await fake.calls()).filter((c) => c.tool === "gpioset").map((c) => c.argv.join(" "));
  assert.deepEqual(sets, ["--version", "--banner --toggle 100ms --chip gpiochip0 6=1"]);
});

test("libgpiod 1.x has no toggle mode: a blink is one gpioset --mode=signal per step, each after the last exited", async (t) => {
  const fake = await fakeGpiod(t, 1);
  const errors: unknown[] = [];
  const led = new GpiodOutput("gpiochip0", 6, new GpiodTools(fake.spawner), (e) => errors.push(e));
  // Long steps: each is a node process here, slow to start on a loaded machine (the tool takes ~1 ms).
  await led.driveBlink(0, 1500);
  await until(async () => (await fake.levels("gpiochip0", 6)).length >= 3, "three levels", 20_000);
  led.close();
  await until(async () => (await fake.holders()).length === 0, "the line released");
  assert.deepEqual(errors, []);
  const levels = await fake.levels("gpiochip0", 6);
  assert.deepEqual(
    levels.slice(0, 3).map((l) => l.level),
    [0, 1, 0],
  );
  const sets = (await fake.calls()).filter((c) => c.tool === "gpioset").map((c) => c.argv.join(" "));
  assert.deepEqual(sets.slice(0, 4), [
    "--version",
    "--mode=signal gpiochip0 6=0",
    "--mode=signal gpiochip0 6=1",
    "--mode=signal gpiochip0 6=0",
  ]);
});
