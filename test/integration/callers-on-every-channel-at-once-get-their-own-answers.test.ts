import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import mqtt from "mqtt";
import WebSocket from "ws";
import { SerialPortTransport } from "../../src/transports/serial-port.js";
import { delay } from "../../src/sim/behaviors.js";
import { startBroker } from "../helpers/brokers.js";
import { until } from "../helpers/daemon.js";
import { remoteRig } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";

interface Reply {
  id: number;
  result?: unknown;
  error?: { code: number; message?: string };
}

/** A raw WebSocket caller: sends frames as they are, collects every reply. */
async function wsCaller(t: TestContext, url: string) {
  const ws = new WebSocket(`${url.replace("http", "ws")}/rpc`);
  t.after(() => {
    ws.terminate();
  });
  await new Promise((r) => ws.once("open", r));
  const replies: Reply[] = [];
  ws.on("message", (d: Buffer) => replies.push(JSON.parse(d.toString()) as Reply));
  return {
    send: (frame: object) => {
      ws.send(JSON.stringify(frame));
    },
    replies,
  };
}

/** A raw MQTT caller with src `caller`: publishes to the device's topic, reads `caller/rpc`. */
async function mqttCaller(t: TestContext, server: string) {
  const client = await mqtt.connectAsync(`mqtt://${server}`, { reconnectPeriod: 0 });
  t.after(() => client.endAsync());
  await client.subscribeAsync("caller/rpc", { qos: 1 });
  const replies: Reply[] = [];
  client.on("message", (_topic, payload) => replies.push(JSON.parse(payload.toString()) as Reply));
  return {
    send: (frame: object) =>
      client.publish("ccm_test/rpc", JSON.stringify({ src: "caller", ...frame }), { qos: 1 }),
    replies,
  };
}

/** A raw caller on the management UART (the other end of its pty). */
async function uartCaller(t: TestContext, path: string) {
  const port = new SerialPortTransport(path, { baudRate: 115200 });
  await port.open();
  t.after(() => port.close());
  const replies: Reply[] = [];
  let buf = "";
  port.on("data", (d) => {
    buf += d.toString("utf8");
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line.startsWith("{")) replies.push(JSON.parse(line) as Reply);
    }
  });
  return { send: (frame: object) => void port.write(`${JSON.stringify(frame)}\n`), replies };
}

const IDS = [1, 2, 3, 4, 5, 6, 7, 8];

test("callers on WebSocket, HTTP, MQTT and the management UART using the same ids at once each get their own answers from the host", async (t) => {
  const broker = await startBroker(t, "mosquitto");
  const mgmt = await ptyPair(t);
  const { daemon, sim, url } = await remoteRig(t, {
    mqtt: { enable: true, server: broker.server },
    rpc: { uart: { port: mgmt.a } },
  });
  await until(
    () => daemon.mqtt?.connected === true && daemon.rpcUart?.link.isUp === true,
    "MQTT and UART up",
  );
  const ws = await wsCaller(t, url);
  const mq = await mqttCaller(t, broker.server);
  const uart = await uartCaller(t, mgmt.b);
  const base = { ws: 1000, http: 2000, mqtt: 3000, uart: 4000 };
  const http = Promise.all(
    IDS.map(async (id) => {
      const r = await fetch(`${url}/rpc`, {
        method: "POST",
        body: JSON.stringify({ id, method: "Sum", params: [id, base.http] }),
      });
      return (await r.json()) as Reply;
    }),
  );
  for (const id of IDS) {
    ws.send({ id, method: "Sum", params: [id, base.ws] });
    mq.send({ id, method: "Sum", params: [id, base.mqtt] });
    uart.send({ id, method: "Sum", params: [id, base.uart] });
  }
  const host = Promise.all(IDS.map(() => sim.call("RPC.Ping", undefined, 5000)));
  await until(
    () =>
      ws.replies.length === IDS.length &&
      mq.replies.length === IDS.length &&
      uart.replies.length === IDS.length,
    "every caller's answers",
    10_000,
  );
  const answers = (replies: Reply[]) =>
    replies.map((r) => [r.id, r.result ?? r.error]).sort((a, b) => (a[0] as number) - (b[0] as number));
  const want = (b: number) => IDS.map((id) => [id, id + b]);
  assert.deepEqual(answers(ws.replies), want(base.ws), "WebSocket");
  assert.deepEqual(answers(await http), want(base.http), "HTTP");
  assert.deepEqual(answers(mq.replies), want(base.mqtt), "MQTT");
  assert.deepEqual(answers(uart.replies), want(base.uart), "management UART");
  assert.equal((await host).length, IDS.length, "the host's own calls were answered too");
});

test("calls forwarded past host.max_pending get -32003 at once, and the calls in flight still get their answers", async (t) => {
  const { sim, url } = await remoteRig(t, {}, { max_pending: 3 });
  const ws = await wsCaller(t, url);
  sim.use(delay(1500));
  for (const id of IDS) ws.send({ id, method: "Sum", params: [id, 100] });
  await until(() => ws.replies.length === IDS.length, "an answer to every call", 10_000);
  const refused = ws.replies.filter((r) => r.error !== undefined);
  const served = ws.replies.filter((r) => r.error === undefined);
  assert.deepEqual(
    served.map((r) => [r.id, r.result]),
    [1, 2, 3].map((id) => [id, id + 100]),
  );
  assert.deepEqual(
    refused.map((r) => [r.id, r.error?.code]),
    [4, 5, 6, 7, 8].map((id) => [id, -32003]),
  );
  assert.ok(
    ws.replies.slice(0, refused.length).every((r) => r.error !== undefined),
    "the refusals came before any answer the slow host gave: nobody waited on them",
  );
});
