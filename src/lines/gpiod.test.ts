import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { GpiodInput, GpiodOutput, type Spawner } from "./gpiod.js";

/** A spawner recording argv; each fake child has a stdout the test writes to and an exit it triggers. */
function fakeSpawner() {
  const spawned: { argv: string[]; child: ChildProcess & { out: PassThrough; killed: boolean } }[] = [];
  const spawner: Spawner = (file, args) => {
    const out = new PassThrough();
    const child = Object.assign(new EventEmitter(), {
      stdout: out,
      out,
      killed: false,
      kill() {
        child.killed = true;
        return true;
      },
    }) as unknown as ChildProcess & { out: PassThrough; killed: boolean };
    spawned.push({ argv: [file, ...args], child });
    return child;
  };
  return { spawned, spawner };
}

test("the button is read with gpioget and watched with gpiomon, with the pull-up bias asked for", async () => {
  const { spawned, spawner } = fakeSpawner();
  const input = new GpiodInput("gpiochip0", 17, true, spawner);
  const read = input.read();
  spawned[0]!.child.out.write("1\n");
  spawned[0]!.child.emit("close", 0);
  assert.equal(await read, 1);
  const levels: number[] = [];
  const stop = input.watch((l) => levels.push(l));
  spawned[1]!.child.out.write("event: FALLING EDGE offset: 17 timestamp: [1.0]\nevent:  RISING EDGE off");
  spawned[1]!.child.out.write("set: 17 timestamp: [2.0]\n");
  await new Promise((r) => setImmediate(r));
  stop();
  assert.deepEqual(levels, [0, 1]);
  assert.equal(spawned[1]!.child.killed, true);
  assert.deepEqual(
    spawned.map((s) => s.argv),
    [
      ["gpioget", "-B", "pull-up", "gpiochip0", "17"],
      ["gpiomon", "-B", "pull-up", "gpiochip0", "17"],
    ],
  );
});

test("the LED is held by gpioset --mode=signal, one process per new level", () => {
  const { spawned, spawner } = fakeSpawner();
  const led = new GpiodOutput("gpiochip1", 4, spawner);
  led.write(1);
  led.write(1);
  led.write(0);
  led.close();
  assert.deepEqual(
    spawned.map((s) => s.argv),
    [
      ["gpioset", "--mode=signal", "gpiochip1", "4=1"],
      ["gpioset", "--mode=signal", "gpiochip1", "4=0"],
    ],
  );
  assert.deepEqual(
    spawned.map((s) => s.child.killed),
    [true, true],
  );
});
