/**
 * The worked example of docs/cloud.md "Google Cloud IoT Core and IBM Watson IoT": a host written for
 * either keeps its topics on any broker through the CCM's generic MQTT backend, with Mosquitto and
 * its command-line clients as the new cloud side; config and state move to the shadow.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startBroker } from "../helpers/brokers.js";
import { until } from "../helpers/daemon.js";
import { mosquittoSub, remoteRig, run } from "../helpers/remote.js";

test("GCP's /devices/<id>/events and IBM's iot-2/evt topics reach mosquitto_sub; commands come back; config is the shadow", async (t) => {
  const broker = await startBroker(t, "mosquitto");
  const { sim, daemon } = await remoteRig(t, {
    device: { id: "lamp-7" },
    mqtt: { enable: true, server: broker.server },
  });
  await until(() => daemon.mqtt?.connected === true, "MQTT up");
  const gcpEvents = await mosquittoSub(t, broker.port, "/devices/+/events/#");
  const ibmEvents = await mosquittoSub(t, broker.port, "iot-2/evt/+/fmt/+");

  const pub = (topic: string, message: string) => sim.call("MQTT.Pub", { topic, message, qos: 1 }, 3000);
  assert.deepEqual(await pub("/devices/lamp-7/events", '{"temp":21}'), { status: "sent" });
  assert.deepEqual(await pub("/devices/lamp-7/events/alerts", '{"overheat":false}'), { status: "sent" });
  assert.deepEqual(await pub("iot-2/evt/status/fmt/json", '{"d":{"temp":21}}'), { status: "sent" });
  await until(() => gcpEvents.messages.length === 2 && ibmEvents.messages.length === 1, "the events");
  assert.deepEqual(gcpEvents.messages, [
    '/devices/lamp-7/events {"temp":21}',
    '/devices/lamp-7/events/alerts {"overheat":false}',
  ]);
  assert.deepEqual(ibmEvents.messages, ['iot-2/evt/status/fmt/json {"d":{"temp":21}}']);

  const commands: unknown[] = [];
  sim.on("notification", (method, params) => {
    if (method === "MQTT.Message") commands.push(params);
  });
  assert.equal(await sim.call("MQTT.Sub", { topic: "/devices/lamp-7/commands/#" }, 3000), true);
  assert.equal(await sim.call("MQTT.Sub", { topic: "iot-2/cmd/+/fmt/+" }, 3000), true);
  const send = (topic: string, message: string) =>
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
  await send("/devices/lamp-7/commands/blink", "3");
  await send("iot-2/cmd/reboot/fmt/json", '{"delay":5}');
  await until(() => commands.length === 2, "both commands at the host");
  assert.deepEqual(commands, [
    { topic: "/devices/lamp-7/commands/blink", message: "3" },
    { topic: "iot-2/cmd/reboot/fmt/json", message: '{"delay":5}' },
  ]);

  // GCP's config (cloud → device) and state (device → cloud) are the shadow's desired and reported.
  await send("$aws/things/lamp-7/shadow/update", '{"state":{"desired":{"on":true}}}');
  await until(() => sim.state.on, "the host got the desired state as Shadow.Delta");
  const reported = async (): Promise<unknown> =>
    ((await daemon.shadow?.backend.get()) as { state: { reported?: unknown } }).state.reported;
  const deadline = Date.now() + 5000;
  while (JSON.stringify(await reported()) !== '{"on":true}' && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await reported(), { on: true }, "the host's state reported back");
});
