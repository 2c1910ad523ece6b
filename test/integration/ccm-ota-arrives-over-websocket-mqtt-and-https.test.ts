/**
 * The ways an update reaches the CCM besides `ccm ota` over HTTP: the issue's own
 * `ccm --port ws://IP/rpc ota FW.ZIP`, `OTA.Update {url}` over MQTT RPC, and a download over HTTPS
 * from a server whose CA the CCM trusts through `ota.ssl_ca`. Each ends with the emulated STM32
 * running the new image.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startAedes } from "../helpers/brokers.js";
import { runCli } from "../helpers/cli.js";
import { until } from "../helpers/daemon.js";
import { callOn, otaRig, serveFiles } from "../helpers/ota.js";
import { testPki } from "../helpers/tls.js";

test("ccm --port ws://…/rpc ota fw.zip updates the host, as mos ota does over WebSocket", async (t) => {
  const { daemon, bundle, port } = await otaRig(t);
  const ws = port.replace(/^http:/, "ws:");
  const r = await runCli(["--port", ws, "ota", await bundle("2.0")], 60_000);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "2.0\n");
  assert.match(r.stderr, /verified and staged 2\.0/);
  assert.equal(daemon.host.info.sys_info?.fw_version, "2.0");
});

test("OTA.Update {url} called over MQTT RPC (mqtt://BROKER/DEVICE_ID) updates the host from an HTTP server", async (t) => {
  const broker = await startAedes(t);
  const { daemon, bundle } = await otaRig(t, { more: { mqtt: { enable: true, server: broker.server } } });
  await until(() => daemon.mqtt?.connected === true, "the CCM on the broker");
  const base = await serveFiles(t, { "/fw-2.2.zip": await bundle("2.2") });
  const mqtt = `mqtt://${broker.server}/ccm_test`;
  const r = await runCli([
    "--port",
    mqtt,
    "call",
    "OTA.Update",
    JSON.stringify({ url: `${base}/fw-2.2.zip` }),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /"staged": true/);
  await until(() => daemon.host.info.sys_info?.fw_version === "2.2", "the host runs 2.2", 30_000);
  const status = await runCli(["--port", mqtt, "--json", "call", "OTA.Status"]);
  const s = JSON.parse(status.stdout) as { state: number; host_fw_version: string };
  assert.deepEqual([s.state, s.host_fw_version], [0, "2.2"]);
});

test("OTA.Update downloads over HTTPS when ota.ssl_ca names the server's CA; without it the download is refused and the host left alone", async (t) => {
  const pki = await testPki(t);
  const { daemon, bundle } = await otaRig(t, { more: { ota: { ssl_ca: pki.ca } } });
  const tls = { cert: pki.serverCert, key: pki.serverKey };
  const url = `${await serveFiles(t, { "/fw-2.4.zip": await bundle("2.4") }, tls)}/fw-2.4.zip`;
  await callOn(daemon, "OTA.Update", { url });
  await until(() => daemon.host.info.sys_info?.fw_version === "2.4", "the host runs 2.4", 30_000);

  const untrusting = await otaRig(t);
  await assert.rejects(
    callOn(untrusting.daemon, "OTA.Update", { url }),
    /download failed: .*(self-signed|unable to verify|certificate)/,
  );
  const s = (await callOn(untrusting.daemon, "OTA.Status")) as { state: number; host_fw_version: string };
  assert.deepEqual([s.state, s.host_fw_version], [2, "1.0"]);
});
