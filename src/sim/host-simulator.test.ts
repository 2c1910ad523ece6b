import assert from "node:assert/strict";
import { test } from "node:test";
import { SerialRpcChannel } from "../channels/serial-rpc.js";
import { isCcmError } from "../errors.js";
import { memoryPair } from "../transports/memory.js";
import { registerRpcBuiltins } from "../rpc/builtins.js";
import { MethodRegistry } from "../rpc/registry.js";
import { RpcServer } from "../rpc/server.js";
import { deaf, delay, drop, garbage, logLines, split } from "./behaviors.js";
import { HostSimulator } from "./host-simulator.js";
import type { TestContext } from "node:test";

/** A simulated host on one end of an in-memory cable and a CCM-side channel on the other. */
async function rig(t: TestContext, sim: Partial<ConstructorParameters<typeof HostSimulator>[0]> = {}) {
  const [hostEnd, ccmEnd] = memoryPair();
  const registry = new MethodRegistry();
  registerRpcBuiltins(registry);
  const host = new HostSimulator({
    port: "mem:host",
    transportFactory: () => hostEnd,
    reconnect: false,
    ...sim,
  });
  const ccm = new SerialRpcChannel({
    path: "mem:ccm",
    settings: { baudRate: 115200 },
    transportFactory: () => ccmEnd,
    reconnect: false,
    timeoutMs: 300,
    server: new RpcServer(registry),
  });
  const logs: string[] = [];
  ccm.link.on("log", (l) => logs.push(l));
  await ccm.link.open();
  await host.start();
  t.after(async () => {
    await host.stop();
    await ccm.link.stop();
  });
  return { host, ccm, logs };
}

test("the simulated host serves Sum with positional or named params, and Sys.Info and RPC.List", async (t) => {
  const { ccm } = await rig(t, { fwVersion: "3.1" });
  assert.equal(await ccm.peer.call("Sum", [2, 3]), 5);
  assert.equal(await ccm.peer.call("Sum", { a: 2, b: 40 }), 42);
  const info = (await ccm.peer.call("Sys.Info")) as Record<string, unknown>;
  assert.equal(info.fw_version, "3.1");
  assert.equal(info.app, "host-sim");
  assert.deepEqual(await ccm.peer.call("RPC.List"), ["RPC.List", "Shadow.Delta", "Sum", "Sys.Info"]);
});

test("an unknown method gets mjson's answer", async (t) => {
  const { ccm } = await rig(t);
  await assert.rejects(ccm.peer.call("This_Function_Does_Not_Exist", true), (e) => {
    return isCcmError(e, "RPC_REMOTE") && e.rpcCode === -32601 && e.message === "method not found";
  });
});

test("Shadow.Delta sets the LED and the host reports its state back", async (t) => {
  const { host, ccm } = await rig(t);
  const reports: unknown[] = [];
  ccm.link.on("frame", (text) => {
    const f = JSON.parse(text) as { method?: string; params?: unknown };
    if (f.method === "Shadow.Report") reports.push(f.params);
  });
  ccm.peer.notify("Shadow.Delta", { on: true });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(host.state.on, true);
  assert.deepEqual(reports.at(-1), { on: true });
});

test("the host boots with a banner and a Shadow.Report, and again after a reset", async (t) => {
  const { host, ccm, logs } = await rig(t);
  const reports: string[] = [];
  ccm.link.on("frame", (text) => reports.push(text));
  await new Promise((r) => setTimeout(r, 20));
  host.reset();
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(
    logs.some((l) => /boot #2/.test(l)),
    logs.join("|"),
  );
  assert.ok(reports.some((r) => r === '{"method":"Shadow.Report","params":{"on":false}}'));
  assert.equal(host.uptime, 0);
});

test("behaviours stack: split frames and a delay still deliver the whole answer", async (t) => {
  const { host, ccm } = await rig(t);
  host.use(split(2, 0)).use(delay(30));
  const started = Date.now();
  assert.equal(await ccm.peer.call("Sum", [1, 1]), 2);
  assert.ok(Date.now() - started >= 25);
});

test("a drop behaviour loses answers so the caller times out", async (t) => {
  const { host, ccm } = await rig(t);
  host.use(drop(1, (line) => line.includes('"result"')));
  await assert.rejects(ccm.peer.call("Sum", [1, 1]), (e) => isCcmError(e, "RPC_TIMEOUT"));
});

test("a deaf host never sees the frames it ignores", async (t) => {
  const { host, ccm } = await rig(t);
  const firmwareSaw: string[] = [];
  for (const name of ["Sum", "Sys.Info"]) {
    const method = host.registry.get(name)!;
    host.registry.register({
      name,
      description: method.description,
      handler: (_p, ctx) => {
        firmwareSaw.push(name);
        return method.handler(method.prepare(ctx.frame.params), ctx);
      },
    });
  }
  host.use(deaf((text) => text.includes("Sum")));
  await assert.rejects(ccm.peer.call("Sum", [1, 1]), (e) => isCcmError(e, "RPC_TIMEOUT"));
  assert.equal((await ccm.peer.call("Sys.Info")) !== null, true);
  assert.deepEqual(firmwareSaw, ["Sys.Info"], "the firmware ran only what the deaf layer let through");
});

test("log lines and garbage between frames do not disturb calls", async (t) => {
  const { ccm, logs } = await rig(t, { behaviors: [logLines(5), garbage(7)] });
  for (let i = 0; i < 10; i++) assert.equal(await ccm.peer.call("Sum", [i, 1]), i + 1);
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(logs.some((l) => /tick/.test(l)));
});

test("a garbage line holds no newline but the one that ends it", async () => {
  // Every other draw lands on 0x0a: the one byte a garbage line must not contain.
  let n = 0;
  const random = () => (n++ % 2 === 0 ? 0.5 : 0x0a / 256);
  const lines: Buffer[] = [];
  const sim = { writeRaw: (d: string | Buffer) => lines.push(Buffer.from(d)) } as unknown as HostSimulator;
  const stop = garbage(1, 64, random).start!(sim);
  await new Promise((r) => setTimeout(r, 20));
  stop();
  assert.ok(lines.length > 0);
  for (const line of lines) {
    assert.equal(line.length, 65);
    assert.equal(line.indexOf(0x0a), 64, line.toString("hex"));
  }
});

test("the host calls the CCM and gets its answer", async (t) => {
  const { host } = await rig(t);
  assert.deepEqual(await host.call("RPC.Ping", undefined, 500), { channel_info: "mem:ccm" });
  await assert.rejects(
    host.call("No.Such", undefined, 500),
    (e) => isCcmError(e, "RPC_REMOTE") && e.rpcCode === -32601,
  );
});
