import assert from "node:assert/strict";
import { test } from "node:test";
import { startMosquitto } from "../helpers/brokers.js";
import { until } from "../helpers/daemon.js";
import { remoteRig } from "../helpers/remote.js";

test("a broker that stops answering (Mosquitto frozen) is noticed within 1.5 × keepalive, and the CCM reconnects once it answers again", async (t) => {
  const broker = await startMosquitto(t);
  const keepalive = 2;
  const { daemon } = await remoteRig(t, {
    mqtt: { enable: true, server: broker.server, keepalive, reconnect_min_ms: 200, reconnect_max_ms: 1000 },
  });
  await until(() => daemon.mqtt?.connected === true, "MQTT up");
  let downs = 0;
  daemon.mqtt?.on("down", () => downs++);
  // SIGSTOP: the TCP connection stays up, but no PINGRESP (nor anything else) comes back.
  broker.pause();
  const t0 = Date.now();
  await until(() => daemon.mqtt?.connected === false, "the CCM to notice the silent broker", 15_000);
  const took = Date.now() - t0;
  // mqtt.js pings after keepalive s of quiet and gives up at 1.5 × keepalive; 500 ms for a busy machine.
  assert.ok(took <= 1.5 * keepalive * 1000 + 500, `noticed after ${took} ms`);
  assert.equal(downs, 1);
  broker.resume();
  await until(() => daemon.mqtt?.connected === true, "the CCM back on the broker", 15_000);
});
