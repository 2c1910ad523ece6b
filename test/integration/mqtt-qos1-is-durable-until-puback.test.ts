import assert from "node:assert/strict";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import mqtt from "mqtt";
import { Outbox } from "../../src/cloud/outbox.js";
import { startCcm } from "../helpers/cli.js";
import { startMosquitto, type TestBroker } from "../helpers/brokers.js";
import { startDaemon, startSim, until } from "../helpers/daemon.js";
import { tempDir } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";
import { startTcpProxy } from "../helpers/tcp-proxy.js";

/** A client of the test's own, collecting what arrives on `topic`. */
async function subscriber(t: TestContext, broker: TestBroker, topic: string): Promise<{ got: string[] }> {
  const client = await mqtt.connectAsync(`mqtt://${broker.server}`, { clientId: `test-sub-${topic}` });
  t.after(() => client.endAsync(true));
  const got: string[] = [];
  client.on("message", (_t, p) => got.push(p.toString()));
  await client.subscribeAsync(topic, { qos: 1 });
  return { got };
}

test("a QoS 1 message answered 'sent' survives kill -9 of the CCM before the broker's PUBACK and reaches the broker after the restart", async (t) => {
  const broker = await startMosquitto(t);
  const proxy = await startTcpProxy(t, broker.port);
  const sub = await subscriber(t, broker, "ccm/durable");
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  const dataDir = await tempDir(t);
  const args = ["--host-port", pty.a, "--data-dir", dataDir];
  const mqttArgs = ["--set", "mqtt.enable=true", "--set", `mqtt.server=${proxy.server}`];
  const first = startCcm(t, [...args, ...mqttArgs]);
  await until(
    () => first.log().includes("host ready") && first.log().includes("connected to"),
    "the first CCM's host and broker",
    30_000,
  );
  // The network stalls: the PUBLISH does not reach the broker, no PUBACK comes back.
  proxy.hold();
  assert.deepEqual(await sim.call("MQTT.Pub", { topic: "ccm/durable", message: "precious", qos: 1 }, 5000), {
    status: "sent",
  });
  await first.kill();
  proxy.release();
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(sub.got, [], "the killed CCM's connection carried nothing to the broker");

  const second = startCcm(t, [...args, ...mqttArgs]);
  await until(() => sub.got.length === 1, "the message from the restarted CCM", 30_000);
  assert.deepEqual(sub.got, ["precious"]);
  assert.match(second.log(), /outbox: 1 messages wait for the broker/);
});

test("stopping the CCM waits for a late PUBACK, so the next start does not send the message again", async (t) => {
  const broker = await startMosquitto(t);
  const proxy = await startTcpProxy(t, broker.port);
  const sub = await subscriber(t, broker, "ccm/late");
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  const dataDir = await tempDir(t);
  const more = { mqtt: { enable: true, server: proxy.server } };
  const daemon = await startDaemon(t, pty.a, {}, more, dataDir);
  await until(() => daemon.host.state === "ready" && daemon.mqtt?.connected === true, "host and MQTT up");
  proxy.hold("down");
  assert.deepEqual(await sim.call("MQTT.Pub", { topic: "ccm/late", message: "late ack", qos: 1 }, 3000), {
    status: "sent",
  });
  await until(() => sub.got.length === 1, "the message at the broker");
  const t0 = Date.now();
  const stopped = daemon.stop();
  setTimeout(() => {
    proxy.release();
  }, 500);
  await stopped;
  assert.ok(Date.now() - t0 >= 400, "stop waited for the PUBACK");
  const left = new Outbox(join(dataDir, "mqtt-outbox.jsonl"), 10);
  t.after(() => left.close());
  assert.equal(left.size, 0, "the PUBACK emptied the outbox on disk");
});

test("a PUBACK that never comes holds the stop no longer than its grace, and the message leaves after the next start", async (t) => {
  const broker = await startMosquitto(t);
  const proxy = await startTcpProxy(t, broker.port);
  const sub = await subscriber(t, broker, "ccm/never");
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  const dataDir = await tempDir(t);
  const more = { mqtt: { enable: true, server: proxy.server } };
  const first = await startDaemon(t, pty.a, {}, more, dataDir);
  await until(() => first.host.state === "ready" && first.mqtt?.connected === true, "host and MQTT up");
  proxy.hold();
  assert.deepEqual(await sim.call("MQTT.Pub", { topic: "ccm/never", message: "kept", qos: 1 }, 3000), {
    status: "sent",
  });
  const t0 = Date.now();
  await first.stop();
  const took = Date.now() - t0;
  assert.ok(took >= 2500 && took < 6000, `stop gave up after its grace (${took} ms)`);
  proxy.release();
  assert.deepEqual(sub.got, []);

  const second = await startDaemon(t, pty.a, {}, more, dataDir);
  await until(() => second.mqtt?.connected === true, "the second CCM connected");
  await until(() => sub.got.length === 1, "the message from the next start", 10_000);
  assert.deepEqual(sub.got, ["kept"]);
});
