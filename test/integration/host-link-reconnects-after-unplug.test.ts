import assert from "node:assert/strict";
import { test } from "node:test";
import { isCcmError } from "../../src/errors.js";
import { delay } from "../../src/sim/behaviors.js";
import { ptyPair } from "../helpers/socat.js";
import { startDaemon, startSim, until } from "../helpers/daemon.js";

test("unplugging the host fails pending calls at once, and replugging re-reads the host", async (t) => {
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b, fwVersion: "1.0" });
  const daemon = await startDaemon(t, pty.a, { timeout_ms: 30000 });
  await until(() => daemon.host.state === "ready", "host ready");
  let readies = 0;
  daemon.host.on("ready", () => readies++);

  sim.use(delay(60_000));
  const failed = assert.rejects(daemon.host.call("Sum", [1, 2]), (e) => isCcmError(e, "LINK_DOWN"));
  await pty.kill();
  await failed;
  await until(() => daemon.host.state === "down", "link down");
  await assert.rejects(daemon.host.call("Sum", [1, 2]), (e) => isCcmError(e, "LINK_DOWN"));

  await sim.stop();
  await pty.restart();
  await startSim(t, { port: pty.b, fwVersion: "2.0" });
  await until(() => daemon.host.state === "ready" && readies === 1, "host ready again", 10_000);
  assert.equal(daemon.host.info.sys_info?.fw_version, "2.0");
  assert.equal(await daemon.host.call("Sum", [20, 22]), 42);
  assert.ok(daemon.host.stats.reconnects >= 1);
});

test("the host resetting while the link stays up is noticed by its uptime going back, and its RPC.List is read again", async (t) => {
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  const daemon = await startDaemon(t, pty.a, { ping_ms: 100 });
  await until(() => daemon.host.state === "ready", "host ready");
  await new Promise((r) => setTimeout(r, 1100));
  assert.ok(!(daemon.host.info.methods ?? []).includes("Blink"));
  let resets = 0;
  daemon.host.on("reset", () => resets++);
  // The new firmware exports one more method; the CCM learns it from the RPC.List it reads after the reset.
  sim.registry.register({ name: "Blink", description: "Blinks the LED.", handler: () => true });
  sim.reset();
  await until(() => resets === 1, "reset noticed", 5000);
  assert.equal(daemon.host.resets, 1);
  assert.equal(daemon.host.state, "ready");
  assert.ok(daemon.host.info.methods?.includes("Blink"), `methods: ${String(daemon.host.info.methods)}`);
});
