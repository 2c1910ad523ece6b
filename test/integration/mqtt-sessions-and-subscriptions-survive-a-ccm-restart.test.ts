import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import mqtt from "mqtt";
import { startMosquitto } from "../helpers/brokers.js";
import { startDaemon, startSim, until } from "../helpers/daemon.js";
import { tempDir } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";

/**
 * With a persistent session (clean_session=false; MQTT 5 with a session expiry), a QoS 1 message
 * published while the CCM is stopped waits at Mosquitto and reaches the host after the restart.
 */
async function persistentSession(t: TestContext, version: 4 | 5): Promise<void> {
  const broker = await startMosquitto(t);
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  const got: unknown[] = [];
  sim.on("notification", (method, params) => {
    if (method === "MQTT.Message") got.push(params);
  });
  const dataDir = await tempDir(t);
  const more = {
    mqtt: {
      enable: true,
      server: broker.server,
      protocol_version: version,
      clean_session: false,
      ...(version === 5 ? { session_expiry: 600 } : {}),
    },
  };
  const first = await startDaemon(t, pty.a, {}, more, dataDir);
  await until(() => first.mqtt?.connected === true && first.host.state === "ready", "first CCM up");
  assert.equal(await sim.call("MQTT.Sub", { topic: "session/in", qos: 1 }, 3000), true);

  const pub = await mqtt.connectAsync(`mqtt://${broker.server}`, { protocolVersion: version });
  t.after(() => pub.endAsync());
  await pub.publishAsync("session/in", "while up", { qos: 1 });
  await until(() => got.length === 1, "the first message");

  await first.stop();
  await pub.publishAsync("session/in", "while stopped", { qos: 1 });
  const second = await startDaemon(t, pty.a, {}, more, dataDir);
  await until(() => second.mqtt?.connected === true, "second CCM up");
  await until(() => got.length === 2, "the message the broker kept for the session", 10_000);
  assert.deepEqual(got, [
    { topic: "session/in", message: "while up" },
    { topic: "session/in", message: "while stopped" },
  ]);
}

test("over MQTT 3.1.1 with a persistent session, a message sent while the CCM was stopped reaches the host after it restarts", (t) =>
  persistentSession(t, 4));

test("over MQTT 5 with a persistent session, a message sent while the CCM was stopped reaches the host after it restarts", (t) =>
  persistentSession(t, 5));

test("with a clean session, the host's subscriptions (less what it unsubscribed) are made again by a restarted CCM", async (t) => {
  const broker = await startMosquitto(t);
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  const got: unknown[] = [];
  sim.on("notification", (method, params) => {
    if (method === "MQTT.Message") got.push(params);
  });
  const dataDir = await tempDir(t);
  const more = { mqtt: { enable: true, server: broker.server, clean_session: true } };
  const first = await startDaemon(t, pty.a, {}, more, dataDir);
  await until(() => first.mqtt?.connected === true && first.host.state === "ready", "first CCM up");
  assert.equal(await sim.call("MQTT.Sub", { topic: "keep/+/cmd", qos: 1 }, 3000), true);
  assert.equal(await sim.call("MQTT.Sub", { topic: "gone/#", qos: 1 }, 3000), true);
  assert.equal(await sim.call("MQTT.Unsub", { topic: "gone/#" }, 3000), true);
  await first.stop();

  const second = await startDaemon(t, pty.a, {}, more, dataDir);
  await until(() => second.mqtt?.connected === true && second.host.state === "ready", "second CCM up");
  const pub = await mqtt.connectAsync(`mqtt://${broker.server}`);
  t.after(() => pub.endAsync());
  await pub.publishAsync("gone/1", "not for the host", { qos: 1 });
  await pub.publishAsync("keep/lamp/cmd", "on", { qos: 1 });
  await until(() => got.length >= 1, "the message on the restored subscription", 10_000);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(got, [{ topic: "keep/lamp/cmd", message: "on" }]);
});
