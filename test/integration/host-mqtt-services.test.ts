import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { spawnCli } from "../helpers/cli.js";
import { isCcmError } from "../../src/errors.js";
import { startBroker, startMosquitto, type TestBroker } from "../helpers/brokers.js";
import { startDaemon, startSim, until } from "../helpers/daemon.js";
import { mosquittoSub, remoteRig } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";

/** An MQTT client of the test's own, collecting what arrives on `topic` (a persistent session). */
async function subscriber(t: TestContext, broker: TestBroker, topic: string): Promise<{ got: string[] }> {
  const client = await mqtt.connectAsync(`mqtt://${broker.server}`, {
    clientId: `test-sub-${Math.random().toString(36).slice(2)}`,
    clean: false,
    reconnectPeriod: 50,
  });
  t.after(() => client.endAsync(true));
  const got: string[] = [];
  client.on("message", (_t, p) => got.push(p.toString()));
  await client.subscribeAsync(topic, { qos: 1 });
  return { got };
}

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
  assert.deepEqual(sub.messages, ["ccm/data hello", "ccm/data 12345"]);
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

test("with the broker gone, QoS 1 publishes wait on disk and all arrive in order after it restarts", async (t) => {
  const broker = await startMosquitto(t, { persistence: true });
  const { sim, daemon } = await remoteRig(t, { mqtt: { enable: true, server: broker.server } });
  await until(() => daemon.mqtt?.connected === true, "MQTT up");
  const sub = await subscriber(t, broker, "ccm/seq");
  await broker.stop();
  await until(() => daemon.mqtt?.connected === false, "the CCM to notice");
  const n = 50;
  for (let i = 0; i < n; i++) {
    const r = await sim.call("MQTT.Pub", { topic: "ccm/seq", message: String(i), qos: 1 }, 3000);
    assert.deepEqual(r, { status: "queued" });
  }
  assert.deepEqual(await sim.call("MQTT.Pub", { topic: "ccm/seq", message: "qos0" }, 3000), {
    status: "dropped",
  });
  assert.equal(daemon.mqttBridge?.outbox.size, n);
  await broker.restart();
  await until(() => sub.got.length === n, `all ${n} messages after the restart`, 15_000);
  assert.deepEqual(
    sub.got,
    Array.from({ length: n }, (_, i) => String(i)),
  );
  await until(() => daemon.mqttBridge?.outbox.size === 0, "the outbox emptied");
});

test("a CCM killed with a queue on disk delivers it after it starts again", async (t) => {
  const broker = await startMosquitto(t, { persistence: true });
  const sub = await subscriber(t, broker, "ccm/kill");
  await broker.stop();
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-outbox-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const args = ["start", "--host-port", pty.a, "--data-dir", dataDir, "--http-listen", "127.0.0.1:0"];
  const mqttArgs = [
    "--set",
    "mqtt.enable=true",
    "--set",
    `mqtt.server=${broker.server}`,
    "--set",
    "host.probe_ms=300",
  ];
  const first = spawnCli([...args, ...mqttArgs]);
  t.after(() => first.kill("SIGKILL"));
  let log = "";
  first.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  await until(() => log.includes("host ready"), "the first CCM's host ready", 15_000);
  for (let i = 0; i < 20; i++) {
    assert.deepEqual(await sim.call("MQTT.Pub", { topic: "ccm/kill", message: `m${i}`, qos: 1 }, 3000), {
      status: "queued",
    });
  }
  const gone = new Promise((r) => first.once("exit", r));
  first.kill("SIGKILL");
  await gone;
  await broker.restart();
  const second = spawnCli([...args, ...mqttArgs]);
  t.after(() => second.kill("SIGKILL"));
  await until(() => sub.got.length === 20, "the 20 messages from the restarted CCM", 20_000);
  assert.deepEqual(
    sub.got,
    Array.from({ length: 20 }, (_, i) => `m${i}`),
  );
  const stopped = new Promise((r) => second.once("exit", r));
  second.kill("SIGTERM");
  await stopped;
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
