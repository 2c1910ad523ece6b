/**
 * The CCM as an Azure IoT Hub device against the local hub (test/conformance checks the hub
 * against the reference): SAS and X.509 logins, the twin as the shadow, direct methods as RPC.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { test, type TestContext } from "node:test";
import { isCcmError } from "../../src/errors.js";
import { AzureIotHubSim } from "../../src/sim/azure-iot-hub.js";
import { until } from "../helpers/daemon.js";
import { remoteRig } from "../helpers/remote.js";
import { testPki, type TestPki } from "../helpers/tls.js";

const HUB = "ccmhub.azure-devices.net";
const KEY = Buffer.from("the CCM's device key, 32 bytes!!").toString("base64");

async function rig(t: TestContext, o: { x509?: boolean } = {}) {
  const pki = await testPki(t);
  const hub = await AzureIotHubSim.start({
    hostName: HUB,
    tls: { key: await readFile(pki.serverKey), cert: await readFile(pki.serverCert) },
    devices: [
      {
        deviceId: "ccm-dev",
        primaryKey: KEY,
        x509Thumbprint: new X509Certificate(await readFile(pki.clientCert)).fingerprint,
      },
    ],
  });
  t.after(() => hub.close());
  const { sim, daemon } = await remoteRig(t, azureConfig(hub, pki, o));
  return { pki, hub, sim, daemon };
}

function azureConfig(hub: AzureIotHubSim, pki: TestPki, o: { x509?: boolean; key?: string }) {
  return {
    azure: {
      enable: true,
      cs:
        o.x509 === true
          ? `HostName=${HUB};DeviceId=ccm-dev;x509=true`
          : `HostName=${HUB};DeviceId=ccm-dev;SharedAccessKey=${o.key ?? KEY}`,
    },
    mqtt: {
      server: `127.0.0.1:${hub.port}`,
      ssl_ca: pki.ca,
      reconnect_min_ms: 200,
      reconnect_max_ms: 500,
      ...(o.x509 === true ? { ssl_cert: pki.clientCert, ssl_key: pki.clientKey } : {}),
    },
  };
}

test("the host's Shadow.Report lands in the twin's reported properties; a desired patch reaches the host as Shadow.Delta", async (t) => {
  const { hub, sim, daemon } = await rig(t);
  await until(() => daemon.mqtt?.connected === true, "connected to the hub with a SAS token", 10_000);
  await sim.call("Shadow.Report", { on: false, temp: 21 }, 5000);
  await until(() => hub.getTwin("ccm-dev").properties.reported.temp === 21, "reported.temp in the twin");
  hub.updateDesired("ccm-dev", { on: true });
  await until(() => sim.state.on, "the host's LED on");
  // The simulated host reports back what it applied.
  await until(() => hub.getTwin("ccm-dev").properties.reported.on === true, "reported.on true");
  const doc = (await daemon.registry.get("Shadow.Get")!.handler(undefined, {
    channel: "test",
    frame: { method: "Shadow.Get" },
  })) as { state: { desired: unknown; reported: unknown; delta?: unknown }; version: number };
  assert.deepEqual(doc.state.desired, { on: true });
  assert.deepEqual(doc.state.reported, { on: true, temp: 21 });
  assert.equal(doc.state.delta, undefined);
  assert.equal(doc.version, 2);
});

test("a desired change made while the CCM was offline reaches the host after it reconnects", async (t) => {
  const { hub, sim, daemon } = await rig(t);
  await until(() => daemon.mqtt?.connected === true, "connected", 10_000);
  await until(() => hub.online("ccm-dev"), "online at the hub");
  hub.kick("ccm-dev");
  await until(() => !hub.online("ccm-dev"), "kicked");
  hub.updateDesired("ccm-dev", { on: true });
  await until(() => sim.state.on, "the host's LED on after the reconnect and twin GET", 10_000);
});

test("direct methods reach the CCM and the host: results, 404 for an unknown method, the host's errors, 400 for a name that does not %-decode", async (t) => {
  const { hub, daemon } = await rig(t);
  await until(() => daemon.mqtt?.connected === true, "connected", 10_000);
  await until(() => hub.online("ccm-dev"), "online at the hub");
  const sum = await hub.invokeMethod("ccm-dev", "Sum", { a: 2, b: 3 });
  assert.deepEqual(sum, { status: 200, payload: 5 });
  const info = await hub.invokeMethod("ccm-dev", "Sys.GetInfo", null);
  assert.equal(info.status, 200);
  assert.equal((info.payload as { id: string }).id, "ccm_test");
  const missing = await hub.invokeMethod("ccm-dev", "No.Such", {});
  assert.equal(missing.status, 404);
  assert.equal((missing.payload as { code: number }).code, -32601);
  const bad = await hub.invokeMethod("ccm-dev", "Sum", { a: "two" });
  assert.equal(bad.status, 400);
  const undecodable = await hub.invokeMethod("ccm-dev", "%E0%A4%A", {});
  assert.deepEqual(undecodable, {
    status: 400,
    payload: { code: -32600, message: "the method name is not valid %-encoding" },
  });
  assert.deepEqual(await hub.invokeMethod("ccm-dev", "Sum", [1, 2]), { status: 200, payload: 3 });
});

test("Shadow.Update of desired is refused: on Azure only the back end sets desired properties", async (t) => {
  const { daemon } = await rig(t);
  await until(() => daemon.mqtt?.connected === true, "connected", 10_000);
  await assert.rejects(
    Promise.resolve(
      daemon.registry.get("Shadow.Update")!.handler(
        { state: { desired: { on: true } } },
        {
          channel: "test",
          frame: { method: "Shadow.Update" },
        },
      ),
    ),
    (e) => isCcmError(e) && /solution back end/.test(e.message),
  );
});

test("MQTT.Pub goes to the hub as telemetry; a topic IoT Hub would refuse is refused before it leaves", async (t) => {
  const { hub, sim, daemon } = await rig(t);
  await until(() => daemon.mqtt?.connected === true, "connected", 10_000);
  const telemetry: string[] = [];
  hub.on("telemetry", (_id, topic, payload) => telemetry.push(`${topic} ${payload.toString()}`));
  await sim.call("MQTT.Pub", { topic: "devices/ccm-dev/messages/events/", message: { t: 1 }, qos: 1 }, 5000);
  await until(() => telemetry.length === 1, "telemetry at the hub");
  assert.deepEqual(telemetry, ['devices/ccm-dev/messages/events/ {"t":1}']);
  await assert.rejects(sim.call("MQTT.Pub", { topic: "my/topic", message: "x" }, 5000), /messages\/events/);
  assert.equal(hub.online("ccm-dev"), true, "the connection stays up");
});

test("an X.509 device logs in with its client certificate and no password", async (t) => {
  const { hub, daemon } = await rig(t, { x509: true });
  await until(() => daemon.mqtt?.connected === true, "connected with X.509", 10_000);
  assert.ok(hub.online("ccm-dev"));
});

test("a wrong device key is refused by the hub and the CCM keeps the reason for Sys.GetInfo", async (t) => {
  const pki = await testPki(t);
  const hub = await AzureIotHubSim.start({
    hostName: HUB,
    tls: { key: await readFile(pki.serverKey), cert: await readFile(pki.serverCert) },
    devices: [{ deviceId: "ccm-dev", primaryKey: KEY }],
  });
  t.after(() => hub.close());
  const other = Buffer.from("not the key the hub has, 32 b!!!").toString("base64");
  const { daemon } = await remoteRig(t, azureConfig(hub, pki, { key: other }));
  await until(() => daemon.mqtt?.lastError !== "" && daemon.mqtt?.lastError !== undefined, "a login error");
  assert.match(daemon.mqtt!.lastError, /Bad username or password/i);
  assert.equal(hub.online("ccm-dev"), false);
});
