/**
 * The CCM as shadow authority on Mosquitto, seen by a plain MQTT client: the size and depth limits,
 * the encoding and in-flight refusals, a null state, and `/delete` with the version going on after
 * it, each answer checked field by field against reference peers.md §5 (timestamps by shape).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { MqttConnection } from "../../src/cloud/mqtt-connection.js";
import { loadConfig } from "../../src/config/load.js";
import { silentLogger } from "../../src/log/logger.js";
import { PrivateShadow } from "../../src/shadow/private-shadow.js";
import { awsShadowClient, timestampsAsT } from "../helpers/aws-shadow-client.js";
import { startBroker } from "../helpers/brokers.js";
import { startDaemon, until } from "../helpers/daemon.js";

const PREFIX = "$aws/things/lamp/shadow";
const T = "T";

async function authority(t: TestContext) {
  const since = Math.floor(Date.now() / 1000);
  const broker = await startBroker(t, "mosquitto");
  const ccm = await startDaemon(
    t,
    "",
    {},
    {
      mqtt: { enable: true, server: broker.server },
      shadow: { topic_prefix: PREFIX },
    },
  );
  await until(() => ccm.mqtt?.connected === true, "the CCM's MQTT up");
  const aws = await awsShadowClient(t, broker.server, PREFIX);
  return { broker, aws, shape: (d: unknown): unknown => timestampsAsT(d, since) };
}

/** Nested objects `levels` deep inside a section: `{a:{a:…{a:1}}}`. */
function nested(levels: number): object {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v as object;
}

test("size and depth limits: 6 levels counting state pass and 7 get 400, over 8192 bytes gets 413, metadata does not count", async (t) => {
  const { aws, shape } = await authority(t);
  // state → reported → 5 levels: 6 counting state, the most AWS allows (peers.md §5.5).
  await aws.send("update", { state: { reported: nested(5) }, clientToken: "deep6" });
  assert.equal((await aws.next("update/accepted", "deep6")).version, 1);
  await aws.send("update", { state: { desired: nested(6) }, clientToken: "deep7" });
  assert.deepEqual(shape(await aws.next("update/rejected", "deep7")), {
    code: 400,
    message: "JSON contains too many levels of nesting; maximum is 6",
    timestamp: T,
    clientToken: "deep7",
  });
  await aws.send("update", { state: { reported: { note: "x".repeat(8192) } }, clientToken: "big" });
  assert.deepEqual(shape(await aws.next("update/rejected", "big")), {
    code: 413,
    message: "The payload exceeds the maximum size allowed",
    timestamp: T,
    clientToken: "big",
  });
  // 600 one-digit keys: ~5 KB of state, ~20 KB with its metadata. Only the state counts.
  const many = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`k${i}`, 1]));
  await aws.send("update", { state: { reported: many }, clientToken: "many" });
  const accepted = (await aws.next("update/accepted", "many")) as { metadata: object; version: number };
  assert.ok(JSON.stringify(accepted.metadata).length > 8192, "the metadata alone is over the limit");
  assert.equal(accepted.version, 2, "the refused updates left the version alone");
  assert.equal(aws.pending("update/documents").length, 2, "documents only for the accepted ones");
});

test("a payload that is not UTF-8 gets 415, one that is not JSON 400, each with AWS's text", async (t) => {
  const { aws, shape } = await authority(t);
  const latin1 = Buffer.from('{"state":{"reported":{"city":"Z\xfcrich"}},"clientToken":"l1"}', "latin1");
  await aws.send("update", latin1);
  assert.deepEqual(shape(await aws.next("update/rejected")), {
    code: 415,
    message: "Unsupported documented encoding; supported encoding is UTF-8",
    timestamp: T,
  });
  await aws.send("update", Buffer.from("state=on"));
  assert.deepEqual(shape(await aws.next("update/rejected")), {
    code: 400,
    message: "Invalid JSON",
    timestamp: T,
  });
  await aws.send("update", { state: { reported: { city: "Zürich" } }, clientToken: "u8" });
  assert.deepEqual((await aws.next("update/accepted", "u8")).state, { reported: { city: "Zürich" } });
});

test("more than 10 requests in flight: the eleventh and later get 429, the first ten are answered", async (t) => {
  const { broker, aws, shape } = await authority(t);
  const lines = Array.from({ length: 15 }, (_, i) =>
    JSON.stringify({ state: { reported: { n: i } }, clientToken: `b${i}` }),
  );
  // A burst, as on a busy device: the CCM shares this process, so publishing from a child that this
  // process waits for synchronously holds the CCM until the broker has acknowledged all fifteen
  // (QoS 1), that is, until it has routed them all to the CCM's socket; the CCM then reads them in
  // one turn, whatever the machine's load.
  const [host, port] = broker.server.split(":") as [string, string];
  execFileSync("mosquitto_pub", ["-h", host, "-p", port, "-t", `${PREFIX}/update`, "-q", "1", "-l"], {
    input: `${lines.join("\n")}\n`,
    timeout: 20_000,
  });
  for (let i = 0; i < 10; i++) assert.equal((await aws.next("update/accepted", `b${i}`)).version, i + 1);
  for (let i = 10; i < 15; i++)
    assert.deepEqual(shape(await aws.next("update/rejected", `b${i}`)), {
      code: 429,
      message: "Too Many Requests",
      timestamp: T,
      clientToken: `b${i}`,
    });
  await aws.send("update", { state: { reported: { n: 99 } }, clientToken: "after" });
  assert.equal((await aws.next("update/accepted", "after")).version, 11, "answered ones no longer count");
});

test('{"state": null} clears desired and reported, keeps the shadow, and the next update goes on from it', async (t) => {
  const { aws, shape } = await authority(t);
  await aws.send("update", { state: { desired: { on: true }, reported: { on: false } }, clientToken: "a" });
  await aws.next("update/accepted", "a");
  await aws.next("update/delta", "a");
  await aws.send("update", { state: null, clientToken: "clear" });
  assert.deepEqual(shape(await aws.next("update/accepted", "clear")), {
    state: { desired: null, reported: null },
    metadata: { desired: { timestamp: T }, reported: { timestamp: T } },
    version: 2,
    timestamp: T,
    clientToken: "clear",
  });
  assert.deepEqual(shape(await aws.next("update/documents", "clear")), {
    previous: {
      state: { desired: { on: true }, reported: { on: false } },
      metadata: { desired: { on: { timestamp: T } }, reported: { on: { timestamp: T } } },
      version: 1,
    },
    current: { state: {}, metadata: {}, version: 2 },
    timestamp: T,
    clientToken: "clear",
  });
  await aws.send("get", { clientToken: "g" });
  assert.deepEqual(shape(await aws.next("get/accepted", "g")), {
    state: {},
    metadata: {},
    version: 2,
    timestamp: T,
    clientToken: "g",
  });
  await aws.send("update", { state: { reported: { on: true } }, clientToken: "next" });
  assert.equal((await aws.next("update/accepted", "next")).version, 3);
  assert.deepEqual(aws.pending("update/delta"), []);
});

test("/delete: accepted with version and timestamp, then get is 404, and a new shadow continues the version", async (t) => {
  const { aws, shape } = await authority(t);
  await aws.send("delete", { clientToken: "d0" });
  assert.deepEqual(shape(await aws.next("delete/rejected", "d0")), {
    code: 404,
    message: "No shadow exists with name: 'lamp'",
    timestamp: T,
    clientToken: "d0",
  });
  for (let i = 1; i <= 4; i++) {
    await aws.send("update", { state: { reported: { step: i } }, clientToken: `u${i}` });
    await aws.next("update/accepted", `u${i}`);
  }
  await aws.send("delete");
  assert.deepEqual(shape(await aws.next("delete/accepted")), { version: 4, timestamp: T });
  await aws.send("get", { clientToken: "g" });
  assert.deepEqual(shape(await aws.next("get/rejected", "g")), {
    code: 404,
    message: "No shadow exists with name: 'lamp'",
    timestamp: T,
    clientToken: "g",
  });
  await aws.send("update", { state: { reported: { on: true } }, version: 4, clientToken: "again" });
  assert.deepEqual(shape(await aws.next("update/accepted", "again")), {
    state: { reported: { on: true } },
    metadata: { reported: { on: { timestamp: T } } },
    version: 5,
    timestamp: T,
    clientToken: "again",
  });
  assert.deepEqual(shape(await aws.next("update/documents", "again")), {
    previous: { state: {}, metadata: {}, version: 4 },
    current: {
      state: { reported: { on: true } },
      metadata: { reported: { on: { timestamp: T } } },
      version: 5,
    },
    timestamp: T,
    clientToken: "again",
  });
});

test("a shadow deleted more than 48 hours ago starts again at version 0; within 48 hours it goes on", async (t) => {
  const broker = await startBroker(t, "mosquitto");
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-shadow-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const config = loadConfig({ overrides: { mqtt: { enable: true, server: broker.server } } });
  const mqtt = new MqttConnection(config.mqtt, "authority", silentLogger);
  t.after(() => mqtt.stop());
  let now = 1_700_000_000;
  const shadow = new PrivateShadow({
    dataDir,
    prefix: PREFIX,
    limits: { maxBytes: 8192, maxDepth: 6 },
    mqtt,
    logger: silentLogger,
    now: () => now,
  });
  shadow.start();
  t.after(() => {
    shadow.stop();
  });
  mqtt.start();
  await until(() => mqtt.connected, "the authority's MQTT up");
  const aws = await awsShadowClient(t, broker.server, PREFIX);
  const update = async (token: string): Promise<unknown> => {
    await aws.send("update", { state: { reported: { on: true } }, clientToken: token });
    return (await aws.next("update/accepted", token)).version;
  };
  assert.equal(await update("a"), 1);
  assert.equal(await update("b"), 2);
  await aws.send("delete");
  assert.deepEqual(await aws.next("delete/accepted"), { version: 2, timestamp: now });
  now += 48 * 3600;
  assert.equal(await update("c"), 3, "48 hours on: the version goes on");
  await aws.send("delete");
  await aws.next("delete/accepted");
  now += 48 * 3600 + 1;
  assert.equal(await update("d"), 1, "48 hours and a second on: a new shadow");
});
