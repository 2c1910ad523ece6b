import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { SerialRpcChannel } from "../../src/channels/serial-rpc.js";
import { ConfigStore } from "../../src/config/store.js";
import { CcmRunner } from "../../src/daemon/runner.js";
import { isCcmError } from "../../src/errors.js";
import { ptyPair } from "../helpers/socat.js";
import { startSim, until } from "../helpers/daemon.js";

/** A CCM (through CcmRunner, so it can restart) with a simulated host and a management client. */
async function rig(t: TestContext, saved?: Record<string, unknown>) {
  const hostPty = await ptyPair(t);
  const mgmtPty = await ptyPair(t);
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-cfg-it-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  if (saved !== undefined) await writeFile(join(dataDir, "config.json"), JSON.stringify(saved));
  const sim = await startSim(t, { port: hostPty.b });
  const runner = new CcmRunner({
    dataDir,
    overrides: {
      device: { id: "ccm_test" },
      host: { port: hostPty.a, probe_ms: 500, ping_ms: 0 },
      rpc: { uart: { port: mgmtPty.a }, http: { listen: "127.0.0.1:0" } },
    },
    set: ["config.lock=dash,mqtt.server"],
  });
  await runner.start();
  t.after(() => runner.stop());
  const client = new SerialRpcChannel({
    path: mgmtPty.b,
    settings: { baudRate: 115200 },
    reconnect: false,
    timeoutMs: 5000,
  });
  await client.link.open();
  t.after(() => client.link.stop());
  await until(
    () => runner.daemon.host.state === "ready" && runner.daemon.rpcUart?.link.isUp === true,
    "host ready, management UART up",
  );
  const mgmt = (method: string, params?: unknown) => client.peer.call(method, params);
  const host = (method: string, params?: unknown) => sim.call(method, params, 5000);
  return { runner, dataDir, mgmt, host };
}

const locked = (e: unknown) =>
  isCcmError(e, "RPC_REMOTE") &&
  e.rpcCode === 403 &&
  /config key (dash\.token|mqtt\.server) is locked/.test(e.message);

test("Config.Get and Config.Set work from the host UART and the management UART alike", async (t) => {
  const { mgmt, host } = await rig(t);
  assert.deepEqual(await host("Config.Set", { config: { wifi: { sta: { ssid: "from-host" } } } }), {
    saved: false,
  });
  assert.equal(await mgmt("Config.Get", { key: "wifi.sta.ssid" }), "from-host");
  await mgmt("Config.Set", { config: { debug: { level: 3 } } });
  assert.deepEqual(await host("Config.Get", { key: "debug" }), { level: 3 });
  const tree = (await mgmt("Config.Get")) as { host: { baud: number } };
  assert.equal(tree.host.baud, 115200);
});

test("a vendor-locked key is refused on both UARTs with a clear error, and nothing of the Set is applied", async (t) => {
  const { mgmt, host } = await rig(t);
  await assert.rejects(
    host("Config.Set", { config: { dash: { token: "t" }, wifi: { sta: { ssid: "x" } } } }),
    locked,
  );
  await assert.rejects(mgmt("Config.Set", { config: { mqtt: { server: "evil:1883" } } }), locked);
  await assert.rejects(mgmt("Config.Set", { config: { config: { lock: [] } } }), /config\.lock is locked/);
  assert.equal(await mgmt("Config.Get", { key: "wifi.sta.ssid" }), "");
  assert.deepEqual(await mgmt("Config.Set", { config: { mqtt: { user: "ok" } } }), {
    saved: false,
    reboot_required: true,
  });
});

test("concurrent Config.Set with save from both UARTs loses no update", async (t) => {
  const { mgmt, host, dataDir } = await rig(t);
  const n = 15;
  await Promise.all([
    ...Array.from({ length: n }, (_, i) =>
      host("Config.Set", { config: { wifi: { sta: { ssid: `h${i}` } } }, save: true }),
    ),
    ...Array.from({ length: n }, (_, i) =>
      mgmt("Config.Set", { config: { wifi: { sta: { pass: `m${i}` } } }, save: true }),
    ),
    ...Array.from({ length: n }, (_, i) =>
      mgmt("Config.Set", { config: { aws: { [i % 2 ? "region" : "thing_name"]: `a${i}` } } }),
    ),
  ]);
  await mgmt("Config.Save");
  const saved = ConfigStore.open({ dataDir }).config;
  assert.equal(saved.wifi.sta.ssid, `h${n - 1}`);
  assert.equal(saved.wifi.sta.pass, `m${n - 1}`);
  assert.equal(saved.aws.thing_name, `a${n - 1 - ((n - 1) % 2)}`);
  assert.equal(saved.aws.region, `a${n - 2 + ((n - 1) % 2)}`);
});

test("Config.Save with reboot restarts the components in-process with the saved config, and they serve again", async (t) => {
  const { runner, mgmt } = await rig(t);
  const before = runner.daemon;
  await mgmt("Config.Set", { config: { host: { timeout_ms: 4321 } } });
  assert.deepEqual(await mgmt("Config.Save", { reboot: true }), { saved: true });
  await until(() => runner.restarts === 1, "the restart");
  assert.notEqual(runner.daemon, before);
  assert.equal(runner.daemon.config.host.timeout_ms, 4321);
  await until(
    () => runner.daemon.rpcUart?.link.isUp === true && runner.daemon.host.state === "ready",
    "back up",
  );
  assert.equal(await mgmt("Config.Get", { key: "host.timeout_ms" }), 4321);
  assert.equal(process.exitCode ?? 0, 0);
});

test("Sys.FactoryReset from the host wipes Wi-Fi and user config, keeps vendor-locked keys, and restarts", async (t) => {
  const { runner, mgmt, host } = await rig(t, { dash: { token: "vendor-token" }, debug: { level: 3 } });
  await mgmt("Config.Set", {
    config: { wifi: { sta: { enable: true, ssid: "home", pass: "pw12345678" } } },
    save: true,
  });
  assert.equal(await host("Sys.FactoryReset"), null);
  await until(() => runner.restarts === 1, "the restart");
  await until(() => runner.daemon.rpcUart?.link.isUp === true, "management UART back");
  const c = runner.daemon.config;
  assert.equal(c.wifi.sta.ssid, "");
  assert.equal(c.wifi.sta.pass, "");
  assert.equal(c.debug.level, 2);
  assert.equal(c.dash.token, "vendor-token");
});
