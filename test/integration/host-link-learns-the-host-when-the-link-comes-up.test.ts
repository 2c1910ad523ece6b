import assert from "node:assert/strict";
import { test } from "node:test";
import { VERSION } from "../../src/version.js";
import { ptyPair } from "../helpers/socat.js";
import { startDaemon, startSim, until } from "../helpers/daemon.js";

test("the CCM reads the host's Sys.Info and RPC.List when the link comes up, and serves the host's calls", async (t) => {
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b, fwVersion: "1.7" });
  const inits: unknown[] = [];
  sim.on("notification", (m, p) => {
    if (m === "Sys.Init") inits.push(p);
  });
  const daemon = await startDaemon(t, pty.a);
  await until(() => daemon.host.state === "ready", "host ready");
  assert.equal(daemon.host.info.sys_info?.fw_version, "1.7");
  assert.deepEqual(daemon.host.info.methods, ["RPC.List", "Shadow.Delta", "Sum", "Sys.Info"]);
  await until(() => inits.length > 0, "Sys.Init at the host");
  assert.deepEqual(inits[0], { id: "ccm_test", app: "ccm", fw_version: VERSION });

  assert.equal(await daemon.host.call("Sum", [2, 3]), 5);
  const info = (await sim.call("Sys.GetInfo")) as {
    id: string;
    host: { state: string; sys_info: { app: string } };
  };
  assert.equal(info.id, "ccm_test");
  assert.equal(info.host.state, "ready");
  assert.equal(info.host.sys_info.app, "host-sim");
  const list = await sim.call("RPC.List");
  assert.deepEqual(list, [
    "Config.Get",
    "Config.Save",
    "Config.Set",
    "FS.Get",
    "FS.List",
    "FS.ListExt",
    "FS.Put",
    "FS.Remove",
    "FS.Rename",
    "OTA.Begin",
    "OTA.Commit",
    "OTA.End",
    "OTA.GetBootState",
    "OTA.Revert",
    "OTA.Status",
    "OTA.Update",
    "OTA.Write",
    "Provision.GetState",
    "RPC.Describe",
    "RPC.List",
    "RPC.Ping",
    "Shadow.Get",
    "Shadow.Report",
    "Shadow.Update",
    "Sys.FactoryReset",
    "Sys.GetInfo",
    "Wifi.Scan",
  ]);
});

test("a host that implements neither Sys.Info nor RPC.List is still a working host", async (t) => {
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  sim.registry.unregister("Sys.Info");
  sim.registry.unregister("RPC.List");
  const daemon = await startDaemon(t, pty.a);
  await until(() => daemon.host.state === "ready", "host ready");
  assert.deepEqual(daemon.host.info, { sys_info: null, methods: null });
  assert.equal(await daemon.host.call("Sum", { a: 1, b: 2 }), 3);
});

test("a host that stays silent leaves the link up but not ready, and calls to it time out", async (t) => {
  const pty = await ptyPair(t);
  const daemon = await startDaemon(t, pty.a, { timeout_ms: 200 });
  await until(() => daemon.host.state === "up", "link up");
  await assert.rejects(daemon.host.call("Sum", [1, 2]), /Sum: no answer within 200 ms/);
  assert.equal(daemon.host.state, "up");
});
