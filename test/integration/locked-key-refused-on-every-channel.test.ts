import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { connectRpc } from "../../src/channels/client/connect.js";
import { isCcmError } from "../../src/errors.js";
import { startBroker } from "../helpers/brokers.js";
import { until } from "../helpers/daemon.js";
import { remoteRig } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";

test("a vendor-locked key is refused alike on both UARTs, HTTP, WebSocket and MQTT, and the config stays as it was", async (t) => {
  const broker = await startBroker(t, "embedded");
  const mgmt = await ptyPair(t);
  const { daemon, sim, url } = await remoteRig(t, {
    mqtt: { enable: true, server: broker.server },
    rpc: { uart: { port: mgmt.a } },
    dash: { token: "vendor-token" },
    config: { lock: ["dash", "mqtt.server"] },
  });
  await until(
    () => daemon.mqtt?.connected === true && daemon.rpcUart?.link.isUp === true,
    "MQTT RPC and the management UART up",
  );
  const store = daemon.configServices.store;
  const before = JSON.stringify(store.config);
  const o = { timeoutMs: 5000, baudRate: 115200 };
  const clients = {
    "host UART": { call: (m: string, p?: unknown) => sim.call(m, p, 5000) },
    "management UART": await connectRpc(mgmt.b, o),
    HTTP: await connectRpc(`${url}/rpc`, o),
    WebSocket: await connectRpc(`${url.replace("http", "ws")}/rpc`, o),
    MQTT: await connectRpc(`mqtt://${broker.server}/ccm_test`, o),
  };
  t.after(async () => {
    for (const c of Object.values(clients)) if ("close" in c) await c.close();
  });

  // The same Set everywhere: an allowed key beside a locked one, asking for a save.
  const set = { config: { wifi: { sta: { ssid: "sneaky" } }, dash: { token: "stolen" } }, save: true };
  for (const [channel, c] of Object.entries(clients)) {
    await assert.rejects(
      c.call("Config.Set", set),
      (e) => {
        assert.ok(isCcmError(e, "RPC_REMOTE"), `${channel}: ${String(e)}`);
        assert.equal(e.rpcCode, 403, channel);
        assert.equal(e.message, "config key dash.token is locked by the vendor", channel);
        assert.deepEqual(e.data, { key: "dash.token" }, channel);
        return true;
      },
      channel,
    );
    assert.equal(await c.call("Config.Get", { key: "wifi.sta.ssid" }), "", `${channel} sees no change`);
  }
  assert.equal(JSON.stringify(store.config), before, "nothing of any Set was applied");
  assert.equal(store.unsaved, false);
  // The CCM saves its own provision.max_state; nothing of the Sets reached the file.
  const saved = JSON.parse(await readFile(join(store.dataDir, "config.json"), "utf8")) as object;
  assert.deepEqual(Object.keys(saved), ["provision"]);
});
