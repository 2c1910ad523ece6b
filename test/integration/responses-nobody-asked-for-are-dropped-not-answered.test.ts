import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { SerialPortTransport } from "../../src/transports/serial-port.js";
import { startBroker } from "../helpers/brokers.js";
import { until } from "../helpers/daemon.js";
import { mosquittoSub, remoteRig, run } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("over MQTT a response with src = the device id is dropped: nothing is published back, no loop", async (t) => {
  const broker = await startBroker(t, "mosquitto");
  const { daemon } = await remoteRig(t, { mqtt: { enable: true, server: broker.server } });
  await until(() => daemon.mqtt?.connected === true, "the CCM's MQTT subscriptions");
  const sub = await mosquittoSub(t, broker.port, "ccm_test/rpc");
  const pub = (message: string) =>
    run("mosquitto_pub", [
      "-h",
      "127.0.0.1",
      "-p",
      String(broker.port),
      "-q",
      "1",
      "-t",
      "ccm_test/rpc",
      "-m",
      message,
    ]);
  await pub('{"id":1,"src":"ccm_test","error":{"code":-32600,"message":"bogus"}}');
  await until(() => daemon.channels.mqttRpc?.dropped.count === 1, "the response dropped");
  await settle(1000);
  assert.equal(sub.messages.length, 1, `only the frame sent: ${sub.messages.join(" | ")}`);
  await pub('{"id":2,"src":"ccm_test","method":"Sum","params":[2,3]}');
  await until(() => sub.messages.length >= 3, "the answer on the CCM's own topic");
  await settle(1000);
  assert.equal(sub.messages.length, 3, `then the request and its answer, once: ${sub.messages.join(" | ")}`);
  assert.deepEqual(JSON.parse(sub.messages[2]!.slice("ccm_test/rpc ".length)), {
    id: 2,
    src: "ccm_test",
    dst: "ccm_test",
    result: 5,
  });
  assert.equal(daemon.channels.mqttRpc?.dropped.count, 2, "its own answer came back and was dropped");
});

test("on the management UART and over WebSocket a response nobody asked for gets no answer", async (t) => {
  const mgmtPty = await ptyPair(t);
  const { daemon, url } = await remoteRig(t, { rpc: { uart: { port: mgmtPty.a } } });
  await until(() => daemon.rpcUart?.link.isUp === true, "management UART up");
  const uart = new SerialPortTransport(mgmtPty.b, { baudRate: 115200 });
  await uart.open();
  t.after(() => uart.close());
  let received = "";
  uart.on("data", (d) => (received += d.toString("utf8")));
  await uart.write('{"id":77,"result":5}\n{"id":78,"error":{"code":1,"message":"x"}}\n');
  await until(() => daemon.rpcUart?.rpcStats.unmatched_responses === 2, "both counted as unmatched");
  await uart.write('{"id":79,"method":"RPC.Ping"}\n');
  await until(() => received.includes("\n"), "the answer to the call");
  const lines = received.split("\n").filter((l) => l.trim() !== "");
  assert.equal(lines.length, 1, received);
  assert.equal((JSON.parse(lines[0]!) as { id: number }).id, 79);

  const ws = new WebSocket(`${url.replace("http", "ws")}/rpc`);
  t.after(() => {
    ws.terminate();
  });
  await new Promise((r) => ws.once("open", r));
  const messages: string[] = [];
  ws.on("message", (d: Buffer) => messages.push(d.toString()));
  ws.send('{"id":5,"src":"me","result":1}');
  ws.send('{"id":6,"src":"me","method":"RPC.Ping"}');
  await until(() => messages.length > 0, "the answer to the call");
  await settle(300);
  assert.equal(messages.length, 1, messages.join(" | "));
  assert.equal((JSON.parse(messages[0]!) as { id: number }).id, 6);
});
