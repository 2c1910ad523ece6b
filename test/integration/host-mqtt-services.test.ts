import assert from "node:assert/strict";
import { test } from "node:test";
import mqtt from "mqtt";
import { isCcmError } from "../../src/errors.js";
import { startBroker } from "../helpers/brokers.js";
import { startDaemon, startSim, until } from "../helpers/daemon.js";
import { mosquittoSub, remoteRig } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";

test("the host's MQTT.Pub reaches mosquitto_sub, and MQTT.Sub brings matching messages back as MQTT.Message", async (t) => {
  const broker = await startBroker(t, "mosquitto");
  const { sim, daemon } = await remoteRig(t, { mqtt: { enable: true, server: broker.server } });
  await until(() => daemon.mqtt?.connected === true, "MQTT up");
  const sub = await mosquittoSub(t, broker.port, "ccm/data");
  assert.deepEqual(await sim.call("MQTT.Pub", { topic: "ccm/data", message: "hello", qos: 1 }, 3000), {
    status: "sent",
  });
  sim.notify("MQTT.Pub", { topic: "ccm/data", message: 12345 });
  await until(() => sub.messages.length === 2, "both messages at mosquitto_sub");
  sim.notify("MQTT.Pub", { topic: "ccm/data", message: "as a notification", qos: 1 });
  await until(() => sub.messages.length === 3, "the QoS 1 notification at mosquitto_sub");
  assert.deepEqual(sub.messages, ["ccm/data hello", "ccm/data 12345", "ccm/data as a notification"]);
  const info = (await sim.call("Sys.GetInfo", undefined, 3000)) as {
    mqtt: { connected: boolean; outbox: number; stats: { published: number } };
    shadow: { backend: string };
  };
  assert.equal(info.mqtt.connected, true);
  assert.equal(info.mqtt.outbox, 0);
  assert.ok(info.mqtt.stats.published >= 1);
  assert.equal(info.shadow.backend, "private");

  const got: unknown[] = [];
  sim.on("notification", (method, params) => {
    if (method === "MQTT.Message") got.push(params);
  });
  assert.equal(await sim.call("MQTT.Sub", { topic: "ccm/led/#" }, 3000), true);
  const pub = await mqtt.connectAsync(`mqtt://${broker.server}`);
  t.after(() => pub.endAsync());
  await pub.publishAsync("ccm/led/1", "on", { qos: 1 });
  await pub.publishAsync("ccm/other", "not for the host", { qos: 1 });
  await until(() => got.length === 1, "MQTT.Message at the host");
  assert.deepEqual(got, [{ topic: "ccm/led/1", message: "on" }]);
  assert.equal(await sim.call("MQTT.Unsub", { topic: "ccm/led/#" }, 3000), true);
});

test("bad MQTT.Pub and MQTT.Sub params get -32602 naming the problem", async (t) => {
  const broker = await startBroker(t, "embedded");
  const { sim } = await remoteRig(t, { mqtt: { enable: true, server: broker.server, max_message: 16 } });
  const refused = async (method: string, params: unknown, pattern: RegExp): Promise<void> => {
    await assert.rejects(
      sim.call(method, params, 3000),
      (e) => isCcmError(e) && e.rpcCode === -32602 && pattern.test(e.message),
      `${method} ${JSON.stringify(params)}`,
    );
  };
  await refused("MQTT.Pub", { topic: "a/+", message: "x" }, /subscriptions/);
  await refused("MQTT.Pub", { topic: "a", message: "x".repeat(17) }, /17 bytes; the limit is 16/);
  await refused("MQTT.Pub", { topic: "a", message: "x", qos: 2 }, /qos/);
  await refused("MQTT.Pub", { message: "x" }, /topic/);
  await refused("MQTT.Pub", { topic: 5, message: "x" }, /topic/);
  await refused("MQTT.Sub", { topic: "a/#/b" }, /# must be/);
  assert.deepEqual(await sim.call("MQTT.Pub", { topic: "a", message: "ok" }, 3000), { status: "sent" });
});

test("cloud messages for an unplugged host wait and reach it when it is back", async (t) => {
  const broker = await startBroker(t, "embedded");
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  const daemon = await startDaemon(t, pty.a, {}, { mqtt: { enable: true, server: broker.server } });
  await until(() => daemon.host.state === "ready" && daemon.mqtt?.connected === true, "host and MQTT up");
  await sim.call("MQTT.Sub", { topic: "ccm/in" }, 3000);
  await sim.stop();
  await pty.kill();
  await until(() => daemon.host.state === "down", "host link down");
  const pub = await mqtt.connectAsync(`mqtt://${broker.server}`);
  t.after(() => pub.endAsync());
  for (const m of ["a", "b", "c"]) await pub.publishAsync("ccm/in", m, { qos: 1 });
  await until(() => daemon.inbox.size === 3, "three messages held for the host");
  await pty.restart();
  const back = await startSim(t, { port: pty.b });
  const got: unknown[] = [];
  back.on("notification", (method, params) => {
    if (method === "MQTT.Message") got.push(params);
  });
  await until(() => got.length === 3, "the held messages at the host", 10_000);
  assert.deepEqual(
    got.map((g) => (g as { message: string }).message),
    ["a", "b", "c"],
  );
});
