import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig } from "../config/load.js";
import { isCcmError } from "../errors.js";
import { brokerUrl, connectOptions } from "./mqtt-options.js";

const mqttConfig = (mqtt: Record<string, unknown>) => loadConfig({ overrides: { mqtt } }).mqtt;

test("the broker URL is mqtts:// with TLS settings, with the default port of each", () => {
  assert.equal(brokerUrl(mqttConfig({ server: "broker" })), "mqtt://broker:1883");
  assert.equal(brokerUrl(mqttConfig({ server: "broker:1884" })), "mqtt://broker:1884");
  assert.equal(brokerUrl(mqttConfig({ server: "broker", ssl_ca: "/ca.pem" })), "mqtts://broker:8883");
  assert.equal(brokerUrl(mqttConfig({ server: "mqtts://x:443" })), "mqtts://x:443");
  assert.throws(
    () => brokerUrl(mqttConfig({ server: "" })),
    (e) => isCcmError(e, "CONFIG_INVALID"),
  );
});

test("AWS IoT on port 443 gets ALPN x-amzn-mqtt-ca; the will defaults to offline", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "ccm-mqtt-opt-"));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  for (const f of ["ca.pem", "c.pem", "c.key"]) writeFileSync(join(dir, f), `-- ${f} --`);
  const o = connectOptions(
    mqttConfig({
      server: "abc-ats.iot.eu-west-1.amazonaws.com:443",
      ssl_ca: join(dir, "ca.pem"),
      ssl_cert: join(dir, "c.pem"),
      ssl_key: join(dir, "c.key"),
      will_topic: "dev/status",
    }),
    "dev1",
  );
  assert.deepEqual(o.ALPNProtocols, ["x-amzn-mqtt-ca"]);
  assert.equal(o.servername, "abc-ats.iot.eu-west-1.amazonaws.com");
  assert.equal(String(o.cert), "-- c.pem --");
  assert.deepEqual(o.will, { topic: "dev/status", payload: Buffer.from("offline"), qos: 1, retain: false });
  assert.throws(
    () => connectOptions(mqttConfig({ server: "x", ssl_cert: join(dir, "c.pem") }), "d"),
    (e) => isCcmError(e, "CONFIG_INVALID") && /ssl_key/.test(e.message),
  );
  assert.throws(
    () => connectOptions(mqttConfig({ server: "x", ssl_ca: join(dir, "missing.pem") }), "d"),
    (e) => isCcmError(e, "CONFIG_INVALID") && /mqtt\.ssl_ca: cannot read/.test(e.message),
  );
});

test("TLS to an IP address sends no SNI name (host names only); the certificate is still checked", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "ccm-mqtt-opt-"));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, "ca.pem"), "-- ca --");
  const ip = connectOptions(mqttConfig({ server: "127.0.0.1:8883", ssl_ca: join(dir, "ca.pem") }), "d");
  assert.equal(ip.servername, undefined);
  assert.equal(ip.rejectUnauthorized, true);
  const named = connectOptions(mqttConfig({ server: "localhost:8883", ssl_ca: join(dir, "ca.pem") }), "d");
  assert.equal(named.servername, "localhost");
});
