import assert from "node:assert/strict";
import { test } from "node:test";
import mqtt from "mqtt";
import { startMosquitto } from "../helpers/brokers.js";
import { startDaemon, startSim, until } from "../helpers/daemon.js";
import { tempDir } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";

test("over MQTT 5 with a persistent session, a message sent while the CCM was stopped reaches the host after it restarts", async (t) => {
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
      protocol_version: 5,
      clean_session: false,
      session_expiry: 600,
    },
  };
  const first = await startDaemon(t, pty.a, {}, more, dataDir);
  await until(() => first.mqtt?.connected === true && first.host.state === "ready", "first CCM up");
  assert.equal(await sim.call("MQTT.Sub", { topic: "v5/in", qos: 1 }, 3000), true);

  const pub = await mqtt.connectAsync(`mqtt://${broker.server}`, { protocolVersion: 5 });
  t.after(() => pub.endAsync());
  await pub.publishAsync("v5/in", "while up", { qos: 1 });
  await until(() => got.length === 1, "the first message");

  await first.stop();
  await pub.publishAsync("v5/in", "while stopped", { qos: 1 });
  const second = await startDaemon(t, pty.a, {}, more, dataDir);
  await until(() => second.mqtt?.connected === true, "second CCM up");
  await until(() => got.length === 2, "the message the broker kept for the session", 10_000);
  assert.deepEqual(got, [
    { topic: "v5/in", message: "while up" },
    { topic: "v5/in", message: "while stopped" },
  ]);
});
