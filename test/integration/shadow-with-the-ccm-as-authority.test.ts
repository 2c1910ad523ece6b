import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isCcmError } from "../../src/errors.js";
import { awsShadowClient } from "../helpers/aws-shadow-client.js";
import { startBroker } from "../helpers/brokers.js";
import { startDaemon, startSim, until } from "../helpers/daemon.js";
import { remoteRig } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";

const PREFIX = "$aws/things/ccm_test/shadow";

test("an AWS shadow client drives the host through the CCM as authority on Mosquitto", async (t) => {
  const broker = await startBroker(t, "mosquitto");
  const { sim, daemon } = await remoteRig(t, { mqtt: { enable: true, server: broker.server } });
  await until(() => daemon.mqtt?.connected === true, "MQTT up");
  const aws = await awsShadowClient(t, broker.server, PREFIX);
  await sim.call("Shadow.Report", { on: false }, 3000);
  await aws.send("update", { state: { desired: { on: true } }, clientToken: "app-1" });
  const accepted = await aws.next("update/accepted", "app-1");
  assert.deepEqual(accepted.state, { desired: { on: true } });
  const delta = await aws.next("update/delta", "app-1");
  assert.deepEqual(delta.state, { on: true });
  await until(() => sim.state.on, "the host's LED on (Shadow.Delta reached it)");
  // The simulated host answers a delta with Shadow.Report {"on":true}: the delta is gone.
  await until(
    () =>
      aws.got.some(
        (g) => g.topic === "update/documents" && JSON.stringify(g.doc).includes('"reported":{"on":true}'),
      ),
    "the host's report",
  );
  await aws.send("get", { clientToken: "app-2" });
  const doc = await aws.next("get/accepted", "app-2");
  assert.deepEqual(doc.state, { desired: { on: true }, reported: { on: true } });
  const version = doc.version as number;
  await aws.send("update", { state: { desired: { on: false } }, version: version - 1, clientToken: "stale" });
  const conflict = await aws.next("update/rejected", "stale");
  assert.equal(conflict.code, 409);
  assert.equal(conflict.message, "Version conflict");
  await aws.send("update", { state: { desired: { on: null } }, clientToken: "del" });
  await aws.next("update/accepted", "del");
  const after = (await daemon.shadow?.backend.get()) as { state: unknown };
  assert.deepEqual(after.state, { reported: { on: true } });
});

test("Shadow.Update over remote RPC sets desired and the host gets only the delta", async (t) => {
  const { sim, url } = await remoteRig(t);
  const deltas: unknown[] = [];
  sim.on("notification", (m, p) => {
    if (m === "Shadow.Delta") deltas.push(p);
  });
  await sim.call("Shadow.Report", { on: false, temp: 21 }, 3000);
  const res = await fetch(`${url}/rpc/Shadow.Update`, {
    method: "POST",
    body: JSON.stringify({ state: { desired: { on: true, temp: 21 } } }),
  });
  assert.equal(res.status, 200);
  await until(() => deltas.length > 0, "a delta at the host");
  assert.deepEqual(deltas[0], { on: true });
  const get = (await (await fetch(`${url}/rpc/Shadow.Get`)).json()) as {
    state: Record<string, unknown>;
    version: number;
  };
  assert.deepEqual(get.state.desired, { on: true, temp: 21 });
  const stale = await fetch(`${url}/rpc/Shadow.Update`, {
    method: "POST",
    body: JSON.stringify({ state: { desired: { on: false } }, version: 1 }),
  });
  assert.equal(stale.status, 500);
  assert.deepEqual(await stale.json(), { code: 409, message: "Version conflict" });
  await assert.rejects(sim.call("Shadow.Report", "on", 3000), (e) => isCcmError(e) && e.rpcCode === -32602);
});

test("the shadow survives a CCM restart, and a host that comes up gets the pending delta", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-shadow-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const pty = await ptyPair(t);
  const first = await startDaemon(t, pty.a, {}, {}, dataDir);
  await first.shadow?.backend.update({ state: { desired: { on: true } } });
  await first.stop();
  const second = await startDaemon(t, pty.a, {}, {}, dataDir);
  const sim = await startSim(t, { port: pty.b });
  await until(() => sim.state.on, "the restarted CCM sending the pending delta to the host that came up");
  const version = async (): Promise<number> =>
    ((await second.shadow?.backend.get()) as { version: number }).version;
  // The host answers the delta with a report: the version goes on from the one saved before.
  const deadline = Date.now() + 5000;
  while ((await version()) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok((await version()) >= 2, `version ${await version()} continues after the restart`);
});

test("a CCM in AWS mode keeps its host in step with a shadow another CCM keeps", async (t) => {
  const broker = await startBroker(t, "embedded");
  const prefix = "$aws/things/thing1/shadow";
  const authority = await remoteRig(t, {
    device: { id: "authority" },
    mqtt: { enable: true, server: broker.server },
    shadow: { topic_prefix: prefix },
  });
  await until(() => authority.daemon.mqtt?.connected === true, "the authority's MQTT");
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  const device = await startDaemon(
    t,
    pty.a,
    {},
    {
      device: { id: "device1" },
      mqtt: { enable: true, server: broker.server },
      aws: { enable: true, thing_name: "thing1" },
    },
  );
  await until(() => device.host.state === "ready" && device.mqtt?.connected === true, "the device CCM up");
  const reported = async (): Promise<unknown> =>
    ((await authority.daemon.shadow?.backend.get()) as { state: { reported?: unknown } }).state.reported;
  await until(() => !sim.state.on, "host booted");
  await sim.call("Shadow.Report", { on: false }, 3000);
  assert.deepEqual(await reported(), { on: false });
  await authority.daemon.shadow?.backend.update({ state: { desired: { on: true } } });
  await until(() => sim.state.on, "the device's host got the delta through AWS-mode shadow");
  const deadline = Date.now() + 5000;
  while (JSON.stringify(await reported()) !== '{"on":true}' && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await reported(), { on: true });
  assert.deepEqual(((await device.shadow?.backend.get()) as { state: unknown }).state, {
    desired: { on: true },
    reported: { on: true },
  });
});

test("a CCM in AWS mode keeps the host's reports while the broker is down and sends them when it is back", async (t) => {
  const broker = await startBroker(t, "mosquitto");
  const mqttFast = { enable: true, server: broker.server, reconnect_min_ms: 200, reconnect_max_ms: 1000 };
  const authority = await startDaemon(
    t,
    "",
    {},
    {
      device: { id: "authority" },
      mqtt: mqttFast,
      shadow: { topic_prefix: "$aws/things/thing2/shadow" },
    },
  );
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  const device = await startDaemon(
    t,
    pty.a,
    {},
    { device: { id: "device2" }, mqtt: mqttFast, aws: { enable: true, thing_name: "thing2" } },
  );
  const up = (): boolean => authority.mqtt?.connected === true && device.mqtt?.connected === true;
  await until(() => up() && device.host.state === "ready", "both CCMs up, the host ready");
  const shadow = async () =>
    (await authority.shadow?.backend.get()) as { state: { reported?: unknown }; version: number };
  await sim.call("Shadow.Report", { on: false, temp: 20, cfg: { mode: "eco" } }, 3000);
  const before = (await shadow()).version;

  await broker.stop();
  await until(() => device.mqtt?.connected === false, "the device CCM sees the broker gone");
  assert.equal(await sim.call("Shadow.Report", { on: true, temp: 21 }, 3000), true, "no LINK_DOWN");
  assert.equal(await sim.call("Shadow.Report", { temp: 22, cfg: { mode: null } }, 3000), true);
  assert.deepEqual((await shadow()).state.reported, { on: false, temp: 20, cfg: { mode: "eco" } });

  await broker.restart();
  const deadline = Date.now() + 25_000;
  while (
    JSON.stringify((await shadow()).state.reported) !== '{"on":true,"temp":22,"cfg":{}}' &&
    Date.now() < deadline
  )
    await new Promise((r) => setTimeout(r, 50));
  const after = await shadow();
  assert.deepEqual(
    after.state.reported,
    { on: true, temp: 22, cfg: {} },
    "both reports, merged, at the authority",
  );
  assert.equal(after.version, before + 1, "sent as one update");
});
