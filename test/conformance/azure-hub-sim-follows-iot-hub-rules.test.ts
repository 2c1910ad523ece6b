/**
 * The local IoT Hub the Azure tests run against behaves as reference peers.md §6 describes the
 * real one, checked with a plain mqtt.js client and SAS tokens signed by Python's hmac (an
 * implementation independent of ours).
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test, type TestContext } from "node:test";
import mqtt, { type MqttClient } from "mqtt";
import { AZURE_API_VERSION, parseConnectionString, sasToken } from "../../src/cloud/azure-auth.js";
import { AzureIotHubSim } from "../../src/sim/azure-iot-hub.js";
import { until } from "../helpers/daemon.js";
import { run } from "../helpers/remote.js";
import { testPki, type TestPki } from "../helpers/tls.js";

const HUB = "ccmhub.azure-devices.net";
const KEY = Buffer.from("a device key of 32 bytes, really").toString("base64");

async function hub(t: TestContext, pki: TestPki): Promise<AzureIotHubSim> {
  const h = await AzureIotHubSim.start({
    hostName: HUB,
    tls: { key: await readFile(pki.serverKey), cert: await readFile(pki.serverCert) },
    devices: [{ deviceId: "dev1", primaryKey: KEY }],
  });
  t.after(() => h.close());
  return h;
}

function token(expiry = Math.floor(Date.now() / 1000) + 600, key = KEY): string {
  return sasToken({ resourceUri: `${HUB}/devices/dev1`, key, expiry });
}

async function device(
  t: TestContext,
  h: AzureIotHubSim,
  pki: TestPki,
  o: { password?: string; username?: string } = {},
): Promise<MqttClient> {
  const client = await mqtt.connectAsync(h.url, {
    clientId: "dev1",
    username: o.username ?? `${HUB}/dev1/?api-version=${AZURE_API_VERSION}`,
    password: o.password ?? token(),
    ca: await readFile(pki.ca),
    reconnectPeriod: 0,
  });
  t.after(() => client.endAsync(true));
  return client;
}

test("a SAS token matches one signed by Python's hmac with the same key, resource and expiry", async () => {
  const expiry = 1_900_000_000;
  const ours = token(expiry);
  const py = await run("python3", [
    "-c",
    [
      "import base64,hashlib,hmac,sys,urllib.parse",
      `sr=urllib.parse.quote('${HUB}/devices/dev1',safe='')`,
      `sig=base64.b64encode(hmac.new(base64.b64decode('${KEY}'),(sr+'\\n${expiry}').encode(),hashlib.sha256).digest()).decode()`,
      `print('SharedAccessSignature sr='+sr+'&sig='+urllib.parse.quote(sig,safe='')+'&se=${expiry}')`,
    ].join("\n"),
  ]);
  assert.equal(py.code, 0, py.stderr);
  assert.equal(ours, py.stdout.trim());
});

test("a connection string is parsed, and one without a key or device id is refused by name", () => {
  assert.deepEqual(parseConnectionString(`HostName=${HUB};DeviceId=dev1;SharedAccessKey=${KEY}`), {
    hostName: HUB,
    deviceId: "dev1",
    sharedAccessKey: KEY,
    x509: false,
  });
  assert.equal(parseConnectionString(`HostName=${HUB};DeviceId=dev1;x509=true`).x509, true);
  assert.throws(() => parseConnectionString(`HostName=${HUB};SharedAccessKey=${KEY}`), /DeviceId is missing/);
  assert.throws(() => parseConnectionString(`HostName=${HUB};DeviceId=d`), /SharedAccessKey or x509/);
});

test("the hub refuses a wrong signature, an expired token and a wrong user name", async (t) => {
  const pki = await testPki(t);
  const h = await hub(t, pki);
  const other = Buffer.from("some other key of thirty-two b!!").toString("base64");
  await assert.rejects(device(t, h, pki, { password: token(undefined, other) }), /Bad username or password/i);
  await assert.rejects(
    device(t, h, pki, { password: token(Math.floor(Date.now() / 1000) - 1) }),
    /Bad username or password/i,
  );
  await assert.rejects(device(t, h, pki, { username: "dev1" }), /Bad username or password/i);
  assert.ok(h.log.some((l) => l.includes("the signature is wrong")));
  assert.ok(h.log.some((l) => l.includes("the token has expired")));
  assert.equal(h.online("dev1"), false);
});

test("twin GET, reported PATCH and desired patches follow the $rid and $version protocol", async (t) => {
  const pki = await testPki(t);
  const h = await hub(t, pki);
  const c = await device(t, h, pki);
  const got: { topic: string; body: string }[] = [];
  c.on("message", (topic, p) => got.push({ topic, body: p.toString() }));
  await c.subscribeAsync("$iothub/twin/res/#", { qos: 1 });
  await c.subscribeAsync("$iothub/twin/PATCH/properties/desired/#", { qos: 1 });
  await c.publishAsync(
    "$iothub/twin/PATCH/properties/reported/?$rid=r1",
    JSON.stringify({ on: false, fw: { v: 1 } }),
  );
  await until(() => got.some((g) => g.topic.startsWith("$iothub/twin/res/")), "PATCH answer");
  assert.equal(got.shift()!.topic, "$iothub/twin/res/204/?$rid=r1&$version=2");
  await c.publishAsync("$iothub/twin/PATCH/properties/reported/?$rid=r2", JSON.stringify({ "bad.key": 1 }));
  await until(() => got.length > 0, "bad PATCH answer");
  assert.match(got.shift()!.topic, /^\$iothub\/twin\/res\/400\/\?\$rid=r2$/);
  h.updateDesired("dev1", { on: true });
  await until(() => got.length > 0, "desired patch");
  const patch = got.shift()!;
  assert.equal(patch.topic, "$iothub/twin/PATCH/properties/desired/?$version=2");
  assert.deepEqual(JSON.parse(patch.body), { on: true, $version: 2 });
  await c.publishAsync("$iothub/twin/GET/?$rid=g1", "");
  await until(() => got.length > 0, "GET answer");
  const twin = got.shift()!;
  assert.equal(twin.topic, "$iothub/twin/res/200/?$rid=g1");
  assert.deepEqual(JSON.parse(twin.body), {
    desired: { on: true, $version: 2 },
    reported: { on: false, fw: { v: 1 }, $version: 2 },
  });
  // null deletes; the service side sees $metadata with $lastUpdated at every level
  await c.publishAsync("$iothub/twin/PATCH/properties/reported/?$rid=r3", JSON.stringify({ on: null }));
  await until(() => got.length > 0, "PATCH answer");
  const reported = h.getTwin("dev1").properties.reported as Record<string, unknown> & {
    $metadata: { fw: { $lastUpdated: string; v: { $lastUpdated: string } }; $lastUpdated: string };
  };
  assert.equal("on" in reported, false);
  assert.equal(reported.$version, 3);
  assert.match(reported.$metadata.fw.v.$lastUpdated, /^\d{4}-\d\d-\d\dT/);
  assert.match(reported.$metadata.$lastUpdated, /^\d{4}-\d\d-\d\dT/);
});

test("direct methods: 404 while the device is offline, its status and payload, 504 when it stays silent", async (t) => {
  const pki = await testPki(t);
  const h = await hub(t, pki);
  assert.equal((await h.invokeMethod("dev1", "Reboot", {})).status, 404);
  const c = await device(t, h, pki);
  await c.subscribeAsync("$iothub/methods/POST/#", { qos: 0 });
  let silent = false;
  c.on("message", (topic, p) => {
    const m = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
    if (m === null || silent) return;
    const params = JSON.parse(p.toString()) as { x: number };
    void c.publishAsync(`$iothub/methods/res/201/?$rid=${m[2]}`, JSON.stringify({ twice: params.x * 2 }));
  });
  assert.deepEqual(await h.invokeMethod("dev1", "Double", { x: 21 }), {
    status: 201,
    payload: { twice: 42 },
  });
  silent = true;
  // 5 s is the shortest timeout the service allows.
  assert.equal((await h.invokeMethod("dev1", "Double", { x: 1 }, 1)).status, 504);
});

test("a publish outside the device topics closes the connection; a foreign subscription is refused", async (t) => {
  const pki = await testPki(t);
  const h = await hub(t, pki);
  const c = await device(t, h, pki);
  await assert.rejects(
    c.subscribeAsync("some/topic", { qos: 1 }),
    (e: { packet?: { granted?: number[] } }) => {
      assert.deepEqual(e.packet?.granted, [128]);
      return true;
    },
  );
  const closed = new Promise<void>((resolve) =>
    c.once("close", () => {
      resolve();
    }),
  );
  c.publish("some/topic", "x", { qos: 0 });
  await closed;
  assert.ok(h.log.some((l) => l === "dev1 → hub: some/topic"));
  await until(() => !h.online("dev1"), "the device offline");
});
