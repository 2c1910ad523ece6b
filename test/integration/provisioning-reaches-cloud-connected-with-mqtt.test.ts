import assert from "node:assert/strict";
import { test } from "node:test";
import { startBroker } from "../helpers/brokers.js";
import { startDaemon, until } from "../helpers/daemon.js";
import { ptyPair } from "../helpers/socat.js";

async function get(url: string): Promise<Record<string, unknown>> {
  const r = await fetch(url);
  assert.equal(r.status, 200);
  return (await r.json()) as Record<string, unknown>;
}

test("the MQTT connection coming up is provisioning state 3 (cloud connected); losing it is state 2 again", async (t) => {
  const broker = await startBroker(t, "embedded");
  const pty = await ptyPair(t);
  const daemon = await startDaemon(
    t,
    pty.a,
    {},
    {
      mqtt: { enable: true, server: broker.server, reconnect_min_ms: 100, reconnect_max_ms: 200 },
      provision: { stable_state: 3 },
    },
  );
  const url = `${daemon.httpUrl!}/rpc/Provision.GetState`;
  const provisioning = daemon.configServices.provisioning;
  await until(() => provisioning.state === 3, "state 3");
  const up = await get(url);
  assert.deepEqual([up.state, up.name, up.max_state, up.provisioned], [3, "cloud connected", 3, true]);

  await broker.stop();
  await until(() => provisioning.state === 2, "state 2 once the broker is gone");
  const down = await get(url);
  assert.deepEqual([down.state, down.max_state], [2, 3]);

  await broker.restart();
  await until(() => provisioning.state === 3, "state 3 again after reconnecting", 10_000);
});

test("Sys.GetInfo has a wifi section: the backend, the station link and the access point", async (t) => {
  const pty = await ptyPair(t);
  const daemon = await startDaemon(t, pty.a);
  const info = await get(`${daemon.httpUrl!}/rpc/Sys.GetInfo`);
  assert.deepEqual(info.wifi, { backend: "none", sta: { status: "os", ssid: "" }, ap: { open: false } });
});
