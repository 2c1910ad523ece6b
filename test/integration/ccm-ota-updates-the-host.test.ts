/**
 * The whole over-the-air path: `ccm ota fw.zip` over HTTP to a CCM whose host is an emulated STM32
 * (application + ROM bootloader on one pty, RST/BOOT0 through `sim` lines) until the host's
 * Sys.Info reports the new fw_version.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runCli } from "../helpers/cli.js";
import { until } from "../helpers/daemon.js";
import { callOn, otaRig, sendBundle, serveFiles } from "../helpers/ota.js";

test("ccm ota sends a bundle over HTTP, the CCM flashes the host through its bootloader, and Sys.Info shows the new version", async (t) => {
  const { daemon, bundle, port, emu } = await otaRig(t);
  const r = await runCli(["--port", port, "ota", await bundle("2.0")], 60_000);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "2.0\n");
  assert.match(r.stderr, /verified and staged 2\.0/);
  assert.equal(daemon.host.info.sys_info?.fw_version, "2.0");
  assert.equal(emu.mcu.personality, "app");
  const status = await runCli(["--port", port, "--json", "call", "OTA.Status"]);
  assert.deepEqual(
    (({ state, host_fw_version }) => ({ state, host_fw_version }))(
      JSON.parse(status.stdout) as { state: number; host_fw_version: string },
    ),
    { state: 0, host_fw_version: "2.0" },
  );
});

test("a bundle for another platform is refused before the host is touched", async (t) => {
  const { daemon, bundle, port } = await otaRig(t);
  const r = await runCli(["--port", port, "ota", await bundle("2.0", { platform: "esp32" })], 60_000);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /platform "esp32"/);
  assert.equal(daemon.host.info.sys_info?.fw_version, "1.0");
});

test("a new image the host does not boot is replaced by the last good one, and the error says so", async (t) => {
  const { daemon, bundle, port } = await otaRig(t);
  assert.equal((await sendBundle(port, await bundle("2.0"))).host_fw_version, "2.0");
  const r = await runCli(["--port", port, "ota", await bundle("3.0", { broken: true })], 90_000);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /did not answer Sys\.Info with fw_version 3\.0.*the previous image 2\.0 was flashed back/,
  );
  await until(() => daemon.host.info.sys_info?.fw_version === "2.0", "the host back on 2.0", 10_000);
});

test("the shadow's desired ota {url, version} updates the host from an HTTP server and reported ota follows", async (t) => {
  const { daemon, bundle } = await otaRig(t);
  const url = `${await serveFiles(t, { "/fw.zip": await bundle("2.5") })}/fw.zip`;
  const call = (method: string, params?: unknown) => callOn(daemon, method, params);
  await call("Shadow.Update", { state: { desired: { ota: { url, version: "2.5" } } } });
  await until(() => daemon.host.info.sys_info?.fw_version === "2.5", "the host runs 2.5", 30_000);
  type Doc = {
    state: { reported?: { ota?: { state: number; version?: string } }; delta?: { ota?: unknown } };
  };
  let doc = (await call("Shadow.Get")) as Doc;
  for (let i = 0; i < 100 && doc.state.reported?.ota?.state !== 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    doc = (await call("Shadow.Get")) as Doc;
  }
  assert.equal(doc.state.reported?.ota?.state, 0, JSON.stringify(doc.state));
  assert.equal(doc.state.reported.ota.version, "2.5");
  assert.equal(doc.state.delta?.ota, undefined, "desired ota is met: no delta left");
});

test("a bundle the flasher refuses before erasing (not page-aligned) leaves the host running its image: nothing is flashed back", async (t) => {
  const { daemon, bundle, port, emu } = await otaRig(t);
  assert.equal((await sendBundle(port, await bundle("2.0"))).host_fw_version, "2.0");
  let bootloader = 0;
  emu.mcu.on("personality", (p) => {
    if (p === "bootloader") bootloader++;
  });
  const r = await runCli(["--port", port, "ota", await bundle("3.0", { addr: 0x0800_0100 })], 60_000);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /not page-aligned.*; nothing on the host was changed \(it runs 2\.0\)/);
  assert.equal(bootloader, 1, "one visit to the bootloader: no second flash of the previous image");
  await until(() => daemon.host.info.sys_info?.fw_version === "2.0", "the host on 2.0", 10_000);
  assert.equal(emu.mcu.firmwareVersion, "2.0");
});

test("ccm ota --commit-timeout keeps the new image uncommitted: OTA.Commit keeps it, and one not committed in time is replaced by the previous image", async (t) => {
  const { daemon, bundle, port } = await otaRig(t);
  assert.equal((await sendBundle(port, await bundle("2.0"))).host_fw_version, "2.0");
  const kept = await runCli(["--port", port, "ota", "--commit-timeout", "60", await bundle("2.1")], 60_000);
  assert.equal(kept.code, 0, kept.stderr);
  assert.match(kept.stderr, /host runs 2\.1, uncommitted: OTA\.Commit within 60 s keeps it/);
  const commit = (await callOn(daemon, "OTA.Commit")) as { host_committed: string };
  assert.equal(commit.host_committed, "2.1");

  const r = await sendBundle(port, await bundle("3.0"), 2);
  assert.deepEqual([r.state, r.host_fw_version], [0, "3.0"]);
  await until(() => daemon.host.info.sys_info?.fw_version === "2.1", "the host back on 2.1", 30_000);
  await until(() => daemon.hostOta?.status().state === 2, "the update reported reverted", 10_000);
  assert.match(
    (daemon.hostOta?.status().message as string | undefined) ?? "",
    /^3\.0 was not committed within 2 s; the previous image 2\.1 was flashed back/,
  );
});
