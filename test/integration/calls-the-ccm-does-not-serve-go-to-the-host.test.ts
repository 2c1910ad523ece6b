import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { SerialRpcChannel } from "../../src/channels/serial-rpc.js";
import { isCcmError } from "../../src/errors.js";
import { deaf } from "../../src/sim/behaviors.js";
import type { HostSimulator } from "../../src/sim/host-simulator.js";
import type { Daemon } from "../../src/daemon/daemon.js";
import { startDaemon, startSim, until } from "../helpers/daemon.js";
import { ptyPair } from "../helpers/socat.js";

/** A daemon with a host simulator on its host UART and a management client on its second UART. */
async function rig(t: TestContext, host: Record<string, unknown> = {}) {
  const hostPty = await ptyPair(t);
  const mgmtPty = await ptyPair(t);
  const sim: HostSimulator = await startSim(t, { port: hostPty.b });
  const daemon: Daemon = await startDaemon(t, hostPty.a, host, { rpc: { uart: { port: mgmtPty.a } } });
  const client = new SerialRpcChannel({
    path: mgmtPty.b,
    settings: { baudRate: 115200 },
    reconnect: false,
    timeoutMs: 5000,
  });
  await client.link.open();
  t.after(() => client.link.stop());
  await until(
    () => daemon.host.state === "ready" && daemon.rpcUart?.link.isUp === true,
    "host ready, management UART up",
  );
  return { sim, daemon, client };
}

test("a call the CCM does not serve is forwarded to the host, and the answer keeps the caller's id, src and tag", async (t) => {
  const { client } = await rig(t);
  const replies: Record<string, unknown>[] = [];
  client.link.on("frame", (text) => replies.push(JSON.parse(text) as Record<string, unknown>));
  assert.equal(await client.peer.call("Sum", [2, 3], { envelope: { src: "mos", tag: "t9" } }), 5);
  const reply = replies.find((r) => r.result === 5)!;
  assert.equal(reply.src, "ccm_test");
  assert.equal(reply.dst, "mos");
  assert.equal(reply.tag, "t9");
});

test("RPC.List on a remote channel lists the CCM's methods and the host's together", async (t) => {
  const { client } = await rig(t);
  const list = (await client.peer.call("RPC.List")) as string[];
  for (const m of ["Sys.GetInfo", "RPC.Describe", "Sum", "Shadow.Delta", "Sys.Info"])
    assert.ok(list.includes(m), m);
});

test("the host's errors reach the remote caller unchanged, and a method nobody serves is -32601", async (t) => {
  const { client } = await rig(t);
  await assert.rejects(
    client.peer.call("Sum", [1, "x"]),
    (e) => isCcmError(e, "RPC_REMOTE") && e.rpcCode === -32602,
  );
  await assert.rejects(
    client.peer.call("Nobody.Serves"),
    (e) => isCcmError(e, "RPC_REMOTE") && e.rpcCode === -32601,
  );
});

test("a method the host starts exporting later is found by re-reading its RPC.List on a miss", async (t) => {
  const { sim, client } = await rig(t);
  sim.registry.register({
    name: "Led.Toggle",
    description: "new in this firmware",
    handler: () => ({ on: true }),
  });
  assert.deepEqual(await client.peer.call("Led.Toggle"), { on: true });
});

test("a host that never answers gives the remote caller a timeout error, not a hang", async (t) => {
  const { sim, client } = await rig(t, { timeout_ms: 300 });
  sim.use(deaf((text) => text.includes("Sum")));
  await assert.rejects(
    client.peer.call("Sum", [1, 2]),
    (e) => isCcmError(e, "RPC_REMOTE") && e.rpcCode === -32001 && /no answer within 300 ms/.test(e.message),
  );
});

test("concurrent callers each get their own answers", async (t) => {
  const { sim, client } = await rig(t);
  const direct = Array.from({ length: 10 }, (_, i) => sim.call("RPC.Ping", undefined, 5000).then(() => i));
  const forwarded = Array.from({ length: 10 }, (_, i) => client.peer.call("Sum", [i, 100]));
  assert.deepEqual(
    await Promise.all(forwarded),
    Array.from({ length: 10 }, (_, i) => i + 100),
  );
  assert.equal((await Promise.all(direct)).length, 10);
});
