import assert from "node:assert/strict";
import { test } from "node:test";
import { connectRpc } from "../../src/channels/client/connect.js";
import { startBroker } from "../helpers/brokers.js";
import { until } from "../helpers/daemon.js";
import { mosquittoSub, remoteRig, run } from "../helpers/remote.js";

async function rigWithMosquitto(t: import("node:test").TestContext) {
  const broker = await startBroker(t, "mosquitto");
  const rig = await remoteRig(t, { mqtt: { enable: true, server: broker.server } });
  await until(() => rig.daemon.mqtt?.connected === true, "the CCM's MQTT subscriptions");
  const pub = (topic: string, message: string) =>
    run("mosquitto_pub", [
      "-h",
      "127.0.0.1",
      "-p",
      String(broker.port),
      "-q",
      "1",
      "-t",
      topic,
      "-m",
      message,
    ]);
  return { ...rig, broker, pub };
}

test("mosquitto_pub of a frame to <device_id>/rpc is answered on <src>/rpc, as mosquitto_sub sees it", async (t) => {
  const { broker, pub } = await rigWithMosquitto(t);
  const sub = await mosquittoSub(t, broker.port, "foo/rpc");
  await pub("ccm_test/rpc", '{"id":123,"src":"foo","method":"Sum","params":[2,3]}');
  await until(() => sub.messages.length > 0, "the answer on foo/rpc");
  const [topic, ...rest] = sub.messages[0]!.split(" ");
  assert.equal(topic, "foo/rpc");
  assert.deepEqual(JSON.parse(rest.join(" ")), { id: 123, src: "ccm_test", dst: "foo", result: 5 });
});

test("a message on <device_id>/rpc/<Method> takes its method from the topic", async (t) => {
  const { broker, pub } = await rigWithMosquitto(t);
  const sub = await mosquittoSub(t, broker.port, "bar/rpc");
  await pub("ccm_test/rpc/Sys.GetInfo", '{"id":5,"src":"bar"}');
  await until(() => sub.messages.length > 0, "the answer on bar/rpc");
  const reply = JSON.parse(sub.messages[0]!.slice("bar/rpc ".length)) as {
    id: number;
    result: { id: string };
  };
  assert.equal(reply.id, 5);
  assert.equal(reply.result.id, "ccm_test");
});

test("a request without src, or not JSON, is dropped and counted, and the channel keeps serving", async (t) => {
  const { broker, pub, daemon } = await rigWithMosquitto(t);
  await pub("ccm_test/rpc", '{"id":1,"method":"Sum","params":[1,1]}');
  await pub("ccm_test/rpc", "{oops");
  await until(() => (daemon.channels.mqttRpc?.dropped.count ?? 0) === 2, "both messages dropped");
  const c = await connectRpc(`mqtt://${broker.server}/ccm_test`, { timeoutMs: 3000, baudRate: 115200 });
  t.after(() => c.close());
  assert.equal(await c.call("Sum", [20, 22]), 42);
});

test("the CCM subscribes again after the broker goes away and comes back", async (t) => {
  const { broker, daemon } = await rigWithMosquitto(t);
  await broker.stop();
  await until(() => daemon.mqtt?.connected === false, "the CCM to notice the broker is gone");
  await broker.restart();
  await until(() => daemon.mqtt?.connected === true, "the CCM to reconnect and subscribe", 10_000);
  const c = await connectRpc(`mqtt://${broker.server}/ccm_test`, { timeoutMs: 3000, baudRate: 115200 });
  t.after(() => c.close());
  assert.equal(await c.call("Sum", [1, 2]), 3);
});

test("a src that is no valid reply topic gets no answer, and the CCM's MQTT connection stays up", async (t) => {
  const { broker, pub, daemon } = await rigWithMosquitto(t);
  const downs: string[] = [];
  daemon.mqtt?.on("down", (reason) => downs.push(reason));
  const bad = ["a+b", "#", "a\u0000b", "", "x".repeat(300), "a/".repeat(250), "$SYS/x"];
  for (const src of bad) await pub("ccm_test/rpc", JSON.stringify({ id: 1, src, method: "RPC.Ping" }));
  // Not a request (method is no string), so not dropped on arrival: its -32600 has nowhere to go.
  await pub("ccm_test/rpc", JSON.stringify({ src: "#", method: 5 }));
  await until(
    () => daemon.channels.mqttRpc?.dropped.count === bad.length + 1,
    "every message dropped and counted",
  );
  const c = await connectRpc(`mqtt://${broker.server}/ccm_test`, { timeoutMs: 3000, baudRate: 115200 });
  t.after(() => c.close());
  assert.equal(await c.call("Sum", [20, 22]), 42, "other callers are still served");
  assert.deepEqual(downs, [], "the broker never closed the CCM's connection");
  assert.equal(daemon.mqtt?.connected, true);
});
