import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { ConfigStore } from "../../src/config/store.js";
import { CcmRunner } from "../../src/daemon/runner.js";
import { runCli } from "../helpers/cli.js";
import { until } from "../helpers/daemon.js";
import { ptyPair } from "../helpers/socat.js";

/** A CCM whose management UART is at the returned `port`; no host attached. */
async function ccm(t: TestContext) {
  const mgmt = await ptyPair(t);
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-cli-cfg-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const runner = new CcmRunner({
    dataDir,
    overrides: {
      device: { id: "ccm_cli" },
      host: { ping_ms: 0 },
      rpc: { uart: { port: mgmt.a }, http: { listen: "127.0.0.1:0" } },
    },
    set: ["config.lock=dash"],
  });
  await runner.start();
  t.after(() => runner.stop());
  await until(() => runner.daemon.rpcUart?.link.isUp === true, "management UART up");
  return { runner, dataDir, port: mgmt.b };
}

test("ccm config-set types values by the config, saves, restarts the components, and config-get reads them back", async (t) => {
  const { runner, dataDir, port } = await ccm(t);
  const set = await runCli([
    "--port",
    port,
    "config-set",
    "mqtt.enable=true",
    "mqtt.server=broker:1883",
    "mqtt.keepalive=30",
  ]);
  assert.equal(set.code, 0, set.stderr);
  await until(() => runner.restarts === 1, "the restart");
  const saved = ConfigStore.open({ dataDir }).config.mqtt;
  assert.deepEqual([saved.enable, saved.server, saved.keepalive], [true, "broker:1883", 30]);
  await until(() => runner.daemon.rpcUart?.link.isUp === true, "management UART back");
  const get = await runCli(["--port", port, "--json", "config-get", "mqtt.keepalive"]);
  assert.equal(get.code, 0, get.stderr);
  assert.equal(get.stdout, "30\n");
});

test("ccm config-set types by the schema: a password or SSID of digits stays a string, numbers and booleans are typed", async (t) => {
  const { runner, dataDir, port } = await ccm(t);
  const set = await runCli([
    "--port",
    port,
    "config-set",
    "--no-reboot",
    "wifi.sta.pass=1234",
    "wifi.sta.ssid=0042",
    "mqtt.keepalive=30",
    "mqtt.clean_session=false",
    "provision.led.pin=17",
  ]);
  assert.equal(set.code, 0, set.stderr);
  const saved = JSON.parse(await readFile(join(dataDir, "config.json"), "utf8")) as {
    wifi: { sta: Record<string, unknown> };
    mqtt: Record<string, unknown>;
    provision: { led: Record<string, unknown> };
  };
  assert.deepEqual(saved.wifi.sta, { pass: "1234", ssid: "0042" });
  assert.deepEqual(saved.mqtt, { keepalive: 30, clean_session: false });
  assert.deepEqual(saved.provision.led, { pin: 17 });
  assert.equal(runner.restarts, 0, "--no-reboot");
});

test("ccm config-set refuses a bad value or key before sending anything, and reports a locked key as the device's error", async (t) => {
  const { port, runner } = await ccm(t);
  const bad = await runCli(["--port", port, "config-set", "mqtt.keepalive=soon"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /mqtt\.keepalive: "soon" is not a number/);
  const unknown = await runCli(["--port", port, "config-get", "mqtt.nope"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown config key: mqtt\.nope/);
  const locked = await runCli(["--port", port, "config-set", "dash.token=x"]);
  assert.equal(locked.code, 1);
  assert.match(locked.stderr, /error 403: config key dash\.token is locked by the vendor/);
  assert.equal(runner.restarts, 0);
});

test("ccm wifi provisions the station, closes the access point and saves, as mos wifi does", async (t) => {
  const { runner, dataDir, port } = await ccm(t);
  const r = await runCli(["--port", port, "wifi", "Home Net", "s3cret pw"]);
  assert.equal(r.code, 0, r.stderr);
  await until(() => runner.restarts === 1, "the restart");
  const wifi = ConfigStore.open({ dataDir }).config.wifi;
  assert.deepEqual(
    [wifi.sta.enable, wifi.sta.ssid, wifi.sta.pass, wifi.ap.enable],
    [true, "Home Net", "s3cret pw", false],
  );
});
