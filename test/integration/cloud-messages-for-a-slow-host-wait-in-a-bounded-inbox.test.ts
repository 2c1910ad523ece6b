import assert from "node:assert/strict";
import { test } from "node:test";
import mqtt from "mqtt";
import { HOST_BACKLOG_BYTES } from "../../src/daemon/host-inbox.js";
import { startBroker } from "../helpers/brokers.js";
import { logCollector, startDaemon, startSim, until } from "../helpers/daemon.js";
import { ptyPair } from "../helpers/socat.js";

const PAD = "x".repeat(200);

test("a host that stops reading its UART gets the newest cloud messages in order; what waits for it stays bounded and the drops are counted and logged", async (t) => {
  const broker = await startBroker(t, "embedded");
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  const got: number[] = [];
  sim.on("notification", (method, params) => {
    if (method === "MQTT.Message") got.push(Number.parseInt((params as { message: string }).message, 10));
  });
  const log = logCollector();
  const inboxMax = 100;
  const daemon = await startDaemon(
    t,
    pty.a,
    { inbox_max: inboxMax },
    { mqtt: { enable: true, server: broker.server } },
    undefined,
    log.logger,
  );
  await until(() => daemon.host.state === "ready" && daemon.mqtt?.connected === true, "host and MQTT up");
  assert.equal(await sim.call("MQTT.Sub", { topic: "flood", qos: 0 }, 3000), true);

  // The host stops reading: the cable stalls, and the CCM's writes stop completing.
  pty.pause();
  const link = daemon.host.channel.link;
  let peakBacklog = 0;
  let peakInbox = 0;
  const sampler = setInterval(() => {
    peakBacklog = Math.max(peakBacklog, link.pendingBytes);
    peakInbox = Math.max(peakInbox, daemon.inbox.size);
  }, 1);
  t.after(() => {
    clearInterval(sampler);
  });
  const pub = await mqtt.connectAsync(`mqtt://${broker.server}`);
  t.after(() => pub.endAsync(true));
  const total = 5000;
  for (let i = 0; i < total; i++) pub.publish("flood", `${i} ${PAD}`, { qos: 0 });
  await until(() => daemon.mqttBridge?.stats.received === total, "the flood at the CCM", 30_000);
  await until(() => daemon.inbox.size === inboxMax, "the inbox full");
  clearInterval(sampler);

  const frame = Buffer.byteLength(
    JSON.stringify({ method: "MQTT.Message", params: { message: `4999 ${PAD}` } }),
  );
  assert.ok(peakInbox <= inboxMax, `inbox peak ${peakInbox}`);
  assert.ok(peakBacklog <= HOST_BACKLOG_BYTES + 2 * frame, `UART backlog peak ${peakBacklog} bytes`);
  const dropped = daemon.inbox.dropped;
  assert.ok(dropped > 0, "the oldest were dropped");
  assert.match(
    log.text(),
    /warn .*host inbox full \(100\): dropped the \d+ oldest message\(s\) \(\d+ since start\)/,
  );
  const info = (await (
    await fetch(`${daemon.httpUrl}/rpc`, {
      method: "POST",
      body: JSON.stringify({ id: 1, method: "Sys.GetInfo" }),
    })
  ).json()) as { result: { inbox: { size: number; dropped: number } } };
  assert.deepEqual(info.result.inbox, { size: inboxMax, dropped });

  pty.resume();
  await until(
    () => got.length === total - dropped,
    `the ${total - dropped} kept messages at the host`,
    30_000,
  );
  assert.ok(
    got.every((n, i) => i === 0 || n > got[i - 1]!),
    "in order",
  );
  assert.equal(got.at(-1), total - 1, "the newest arrived");
  assert.equal(new Set(got).size, got.length, "no copies");
});
