import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { spawnCli } from "../helpers/cli.js";
import { until } from "../helpers/daemon.js";
import { fakeGpiod, type FakeGpiod } from "../helpers/fake-gpiod.js";

/** `ccm start` with `--set` args and the fake libgpiod 2.x tools first on PATH; returns its URL. */
async function ccmStart(t: TestContext, fake: FakeGpiod, set: string[]) {
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-led-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const args = ["start", "--data-dir", dataDir, "--http-listen", "127.0.0.1:0"];
  const ccm = spawnCli([...args, ...set.flatMap((s) => ["--set", s])], {
    PATH: `${fake.bin}:${process.env.PATH ?? ""}`,
  });
  let log = "";
  ccm.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  t.after(() => ccm.kill("SIGKILL"));
  await until(() => /RPC over HTTP and WebSocket on http:/.test(log), "ccm start to listen", 20_000);
  const url = /RPC over HTTP and WebSocket on (http:\/\/127\.0\.0\.1:\d+)\/rpc/.exec(log)?.[1] ?? "";
  const call = async (method: string, params?: unknown): Promise<unknown> =>
    (await fetch(`${url}/rpc/${method}`, { method: "POST", body: JSON.stringify(params ?? {}) })).json();
  const stop = async (): Promise<void> => {
    const exited = new Promise((resolve) => ccm.once("exit", resolve));
    ccm.kill("SIGTERM");
    assert.equal(await exited, 0);
  };
  return { call, stop, log: () => log };
}

test("the LED on provision.led.pin blinks the provisioning state through libgpiod, one gpioset --toggle for the whole blink", async (t) => {
  const fake = await fakeGpiod(t, 2);
  // The network is the OS's (state 2, network up); stable_state 3 makes that a blinking state.
  const ccm = await ccmStart(t, fake, ["provision.led.pin=5", "provision.stable_state=3"]);
  await until(async () => (await fake.levels("gpiochip0", 5)).length >= 6, "the LED to blink", 10_000);
  assert.deepEqual(await ccm.call("Provision.GetState"), {
    state: 2,
    name: "network up",
    max_state: 2,
    stable_state: 3,
    provisioned: false,
    ap_open: false,
    backend: "none",
  });
  const levels = await fake.levels("gpiochip0", 5);
  assert.deepEqual(
    levels.slice(0, 6).map((l) => l.level),
    [1, 0, 1, 0, 1, 0],
  );
  const gaps = levels.slice(1, 6).map((l, i) => l.t - levels[i]!.t);
  assert.ok(
    gaps.every((g) => g >= 110),
    `state 2 blinks every 0.25 s: ${gaps.join(" ")}`,
  );
  const gpioset = (await fake.calls()).filter((c) => c.tool === "gpioset").map((c) => c.argv.join(" "));
  assert.deepEqual(gpioset, ["--version", "--banner --toggle 125ms --chip gpiochip0 5=1"]);
  await ccm.stop();
  assert.deepEqual(await fake.holders(), [], "the line is released when the CCM stops");
});

test("a provisioned CCM lights the LED solid; with active_high false, by driving the line low", async (t) => {
  const fake = await fakeGpiod(t, 2);
  const ccm = await ccmStart(t, fake, [
    "provision.gpio_chip=gpiochip2",
    "provision.led.pin=7",
    "provision.led.active_high=false",
  ]);
  await until(async () => (await fake.levels("gpiochip2", 7)).length === 1, "the LED lit");
  assert.equal(((await ccm.call("Provision.GetState")) as { state: number }).state, 2);
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(
    (await fake.levels("gpiochip2", 7)).map((l) => l.level),
    [0],
    "solid: driven low once, no blinking",
  );
  const gpioset = (await fake.calls()).filter((c) => c.tool === "gpioset").map((c) => c.argv.join(" "));
  assert.deepEqual(gpioset, ["--version", "--banner --chip gpiochip2 7=0"]);
  await ccm.stop();
  assert.deepEqual(await fake.holders(), []);
});
