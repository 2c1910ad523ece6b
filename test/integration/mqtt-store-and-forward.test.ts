import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import mqtt from "mqtt";
import { startCcm } from "../helpers/cli.js";
import { startBroker, startMosquitto, type BrokerKind, type TestBroker } from "../helpers/brokers.js";
import { startSim, until } from "../helpers/daemon.js";
import { remoteRig, tempDir } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";
import { startTcpProxy } from "../helpers/tcp-proxy.js";

/** An MQTT client of the test's own, collecting what arrives on `topic`; `persistent`: clean=false. */
async function subscriber(
  t: TestContext,
  broker: TestBroker,
  topic: string,
  persistent = false,
): Promise<{ got: string[] }> {
  const client = await mqtt.connectAsync(`mqtt://${broker.server}`, {
    clientId: `test-sub-${Math.random().toString(36).slice(2)}`,
    clean: !persistent,
    reconnectPeriod: 50,
  });
  t.after(() => client.endAsync(true));
  const got: string[] = [];
  client.on("message", (_t, p) => got.push(p.toString()));
  await client.subscribeAsync(topic, { qos: 1 });
  return { got };
}

/** The first copy of each message, in arrival order: QoS 1 is at least once, so copies may come. */
function distinct(got: string[]): string[] {
  return [...new Set(got)];
}

const N = 50;
const numbers = Array.from({ length: N }, (_, i) => String(i));

/**
 * The broker goes away and comes back on the same port; the CCM reaches it through a proxy that
 * lets the CCM in again only once the test's subscriber is back (a restarted broker has forgotten it).
 * `stop`: the broker stops cleanly, the CCM notices, then the host publishes (all "queued").
 * `kill`: the link dies with the broker (no FIN: a power cut) and the host publishes at once, into a
 * connection the CCM still believes in, until its keepalive tells it otherwise.
 */
async function brokerLoss(t: TestContext, kind: BrokerKind, how: "stop" | "kill"): Promise<void> {
  const broker = await startBroker(t, kind);
  const proxy = await startTcpProxy(t, broker.port);
  const { sim, daemon } = await remoteRig(t, {
    mqtt: { enable: true, server: proxy.server, keepalive: 2, reconnect_min_ms: 200, reconnect_max_ms: 1000 },
  });
  await until(() => daemon.mqtt?.connected === true, "MQTT up");
  const pub = (i: number) => sim.call("MQTT.Pub", { topic: "ccm/seq", message: String(i), qos: 1 }, 5000);
  if (how === "stop") {
    proxy.refuse();
    await broker.stop();
    await until(() => daemon.mqtt?.connected === false, "the CCM to notice");
    for (let i = 0; i < N; i++) assert.deepEqual(await pub(i), { status: "queued" });
    assert.deepEqual(await sim.call("MQTT.Pub", { topic: "ccm/seq", message: "qos0" }, 3000), {
      status: "dropped",
    });
    assert.equal(daemon.mqttBridge?.outbox.size, N);
  } else {
    proxy.cut();
    await broker.kill();
    const statuses: unknown[] = [];
    for (let i = 0; i < N; i++) statuses.push(((await pub(i)) as { status: string }).status);
    assert.equal(statuses[0], "sent", "the first publishes went out before the CCM noticed");
    assert.ok(
      statuses.every((s) => s === "sent" || s === "queued"),
      JSON.stringify(statuses),
    );
    await until(() => daemon.mqtt?.connected === false, "the keepalive to notice the dead link", 10_000);
  }
  await broker.restart();
  const sub = await subscriber(t, broker, "ccm/seq");
  proxy.open();
  await until(() => distinct(sub.got).length === N, `all ${N} messages after the restart`, 20_000);
  assert.deepEqual(distinct(sub.got), numbers, `in order (${sub.got.length - N} copies)`);
  await until(() => daemon.mqttBridge?.outbox.size === 0, "the outbox emptied");
}

test("Mosquitto stopped: QoS 1 publishes made once the CCM noticed wait on disk and all arrive in order after it restarts", (t) =>
  brokerLoss(t, "mosquitto", "stop"));

test("Mosquitto killed (SIGKILL, link dead): QoS 1 publishes made before the CCM noticed all arrive in order after it restarts", (t) =>
  brokerLoss(t, "mosquitto", "kill"));

test("embedded broker stopped: QoS 1 publishes made once the CCM noticed wait on disk and all arrive in order after it restarts", (t) =>
  brokerLoss(t, "embedded", "stop"));

test("embedded broker killed (link dead): QoS 1 publishes made before the CCM noticed all arrive in order after it restarts", (t) =>
  brokerLoss(t, "embedded", "kill"));

test("a CCM killed with a queue on disk delivers it after it starts again", async (t) => {
  const broker = await startMosquitto(t, { persistence: true });
  const sub = await subscriber(t, broker, "ccm/kill", true);
  await broker.stop();
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  const dataDir = await tempDir(t);
  const args = ["--host-port", pty.a, "--data-dir", dataDir];
  const mqttArgs = ["--set", "mqtt.enable=true", "--set", `mqtt.server=${broker.server}`];
  const first = startCcm(t, [...args, ...mqttArgs]);
  await until(() => first.log().includes("host ready"), "the first CCM's host ready", 30_000);
  for (let i = 0; i < 20; i++) {
    assert.deepEqual(await sim.call("MQTT.Pub", { topic: "ccm/kill", message: `m${i}`, qos: 1 }, 3000), {
      status: "queued",
    });
  }
  await first.kill();
  await broker.restart();
  const second = startCcm(t, [...args, ...mqttArgs]);
  await until(() => sub.got.length === 20, "the 20 messages from the restarted CCM", 30_000);
  assert.deepEqual(
    sub.got,
    Array.from({ length: 20 }, (_, i) => `m${i}`),
  );
  const stopped = new Promise((r) => second.child.once("exit", r));
  second.child.kill("SIGTERM");
  await stopped;
});

test("a full outbox drops the oldest and says so: in MQTT.Pub's answer, in the log and in Sys.GetInfo", async (t) => {
  const broker = await startMosquitto(t);
  const proxy = await startTcpProxy(t, broker.port);
  proxy.refuse();
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  const dataDir = await tempDir(t);
  const ccm = startCcm(t, [
    ...["--host-port", pty.a, "--data-dir", dataDir],
    ...["--set", "mqtt.enable=true", "--set", `mqtt.server=${proxy.server}`],
    ...[
      "--set",
      "mqtt.queue_max=3",
      "--set",
      "mqtt.reconnect_min_ms=200",
      "--set",
      "mqtt.reconnect_max_ms=500",
    ],
  ]);
  await until(() => ccm.log().includes("host ready"), "the CCM's host ready", 30_000);
  const answers = [];
  for (let i = 0; i < 5; i++)
    answers.push(await sim.call("MQTT.Pub", { topic: "ccm/full", message: `m${i}`, qos: 1 }, 3000));
  assert.deepEqual(answers, [
    { status: "queued" },
    { status: "queued" },
    { status: "queued" },
    { status: "queued", dropped: 1 },
    { status: "queued", dropped: 1 },
  ]);
  assert.match(ccm.log(), /warn .*outbox full \(3\): dropped the 1 oldest message\(s\) \(1 since start\)/);
  const info = (await sim.call("Sys.GetInfo", undefined, 3000)) as {
    mqtt: { connected: boolean; outbox: number; stats: { queued: number; dropped_oldest: number } };
  };
  assert.equal(info.mqtt.connected, false);
  assert.equal(info.mqtt.outbox, 3);
  assert.equal(info.mqtt.stats.queued, 5);
  assert.equal(info.mqtt.stats.dropped_oldest, 2);

  const sub = await subscriber(t, broker, "ccm/full");
  proxy.open();
  await until(() => sub.got.length === 3, "the three newest at the broker", 15_000);
  assert.deepEqual(sub.got, ["m2", "m3", "m4"]);
});
