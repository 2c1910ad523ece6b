/**
 * Progress goes into the shadow: while the CCM writes a paced emulated STM32 (115200-baud wire time,
 * flash program times), the reported `ota` of the CCM's own shadow says it is applying, with the
 * step and the bytes done, as an AWS-shadow client on the broker sees each update/accepted; then it
 * says the host runs the new version.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import mqtt from "mqtt";
import { startAedes, startBroker } from "../helpers/brokers.js";
import { startDaemon, until } from "../helpers/daemon.js";
import { otaRig, sendBundle } from "../helpers/ota.js";

interface ReportedOta {
  state: number;
  state_name: string;
  message: string;
  version?: string;
  progress: { step: string; done: number; total: number } | null;
}

test("the shadow's reported ota shows the flash's progress while the host is written, then the version it runs", async (t) => {
  const broker = await startAedes(t);
  const { daemon, bundle, port } = await otaRig(t, {
    pacing: true,
    more: { mqtt: { enable: true, server: broker.server } },
  });
  await until(() => daemon.mqtt?.connected === true, "the CCM on the broker");
  const client = await mqtt.connectAsync(`mqtt://${broker.server}`);
  t.after(() => client.endAsync(true));
  const seen: ReportedOta[] = [];
  client.on("message", (_topic, payload) => {
    const doc = JSON.parse(payload.toString()) as { state?: { reported?: { ota?: ReportedOta } } };
    const ota = doc.state?.reported?.ota;
    if (ota !== undefined) seen.push(ota);
  });
  await client.subscribeAsync("$aws/things/ccm_test/shadow/update/accepted", { qos: 1 });

  const done = await sendBundle(port, await bundle("2.0", { size: 16 * 1024 }));
  assert.deepEqual([done.state, done.host_fw_version], [0, "2.0"]);
  await until(() => seen.at(-1)?.state === 0, "the last report: idle", 10_000);

  const writes = seen.filter((o) => o.state === 3 && o.progress?.step === "host_fw write");
  assert.ok(writes.length >= 5, `write progress reported every 10 %: ${JSON.stringify(seen)}`);
  for (const w of writes) assert.equal(w.progress?.total, 16 * 1024);
  const dones = writes.map((w) => w.progress?.done ?? 0);
  assert.deepEqual(
    dones,
    [...dones].sort((a, b) => a - b),
    "bytes written only grow",
  );
  assert.ok(dones[0]! < 16 * 1024 && dones.some((d) => d > 0), JSON.stringify(dones));
  assert.ok(
    seen.some((o) => o.progress?.step === "host_fw erase") &&
      seen.some((o) => o.progress?.step === "host_fw verify"),
    "erase and verify are reported too",
  );
  const last = seen.at(-1)!;
  assert.deepEqual([last.state_name, last.version, last.progress], ["idle", "2.0", null]);
  assert.match(last.message, /^host runs 2\.0/);
});

test("in AWS mode, the ota status of an update made while the broker is down reaches the shadow once it is back", async (t) => {
  const broker = await startBroker(t, "mosquitto");
  const mqttFast = { enable: true, server: broker.server, reconnect_min_ms: 200, reconnect_max_ms: 1000 };
  const authority = await startDaemon(
    t,
    "",
    {},
    { device: { id: "authority" }, mqtt: mqttFast, shadow: { topic_prefix: "$aws/things/thing3/shadow" } },
  );
  const { daemon, bundle, port } = await otaRig(t, {
    more: { device: { id: "device3" }, mqtt: mqttFast, aws: { enable: true, thing_name: "thing3" } },
  });
  await until(() => authority.mqtt?.connected === true && daemon.mqtt?.connected === true, "both CCMs up");

  await broker.stop();
  await until(() => daemon.mqtt?.connected === false, "the device CCM sees the broker gone");
  const done = await sendBundle(port, await bundle("2.0", { size: 8 * 1024 }));
  assert.deepEqual([done.state, done.host_fw_version], [0, "2.0"]);

  await broker.restart();
  const reportedOta = async (): Promise<ReportedOta | undefined> => {
    // The authority has no shadow for the thing until the first report lands (AWS: 404).
    const doc = (await authority.shadow?.backend.get().catch(() => undefined)) as
      { state: { reported?: { ota?: ReportedOta } } } | undefined;
    return doc?.state.reported?.ota;
  };
  let ota: ReportedOta | undefined;
  const deadline = Date.now() + 25_000;
  while (Date.now() < deadline) {
    ota = await reportedOta();
    if (ota?.state === 0 && ota.version === "2.0") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(
    // progress: null in the last report deletes the key, as a null does in a shadow.
    [ota?.state_name, ota?.version, ota === undefined || "progress" in ota],
    ["idle", "2.0", false],
    `the status held while offline, then sent: ${JSON.stringify(ota)}`,
  );
  assert.match(ota?.message ?? "", /^host runs 2\.0/);
});
