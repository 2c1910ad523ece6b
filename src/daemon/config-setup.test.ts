import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { loadConfig } from "../config/load.js";
import type { ResponseFrame } from "../rpc/frame.js";
import type { ChannelContext } from "../rpc/server.js";
import type { ScanResult } from "../provisioning/network.js";
import { NoNetworkBackend } from "../provisioning/network.js";
import { Daemon } from "./daemon.js";
import type { InputLine, Level } from "../lines/digital-line.js";
import { ManualClock } from "../../test/helpers/manual-clock.js";

async function daemon(t: TestContext, overrides: Record<string, unknown> = {}, scan?: ScanResult[]) {
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-cs-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const network = new NoNetworkBackend();
  if (scan !== undefined) network.scan = () => Promise.resolve(scan);
  const d = new Daemon({
    // Free HTTP ports: other test files run in parallel.
    config: loadConfig({
      overrides: { device: { id: "ccm_t" }, rpc: { http: { listen: "127.0.0.1:0" } }, ...overrides },
    }),
    dataDir,
    devices: { network },
  });
  return { d, dataDir };
}

function call(d: Daemon, method: string, params: unknown, ctx: ChannelContext): Promise<ResponseFrame> {
  return new Promise((resolve) => {
    d.server.handle({ id: 1, method, params }, ctx, (r) => {
      resolve(r as ResponseFrame);
    });
  });
}

const UART: ChannelContext = { channel: "UART", peer: "/dev/ttyS1" };
const WS: ChannelContext = { channel: "WS_in", peer: "10.0.0.9:5000" };

test("secrets are shown on serial but redacted on network channels when no RPC auth is configured", async (t) => {
  const { d } = await daemon(t, { mqtt: { pass: "hunter2", user: "u" } });
  const serial = await call(d, "Config.Get", { key: "mqtt" }, UART);
  assert.equal((serial.result as { pass: string }).pass, "hunter2");
  const ws = await call(d, "Config.Get", {}, WS);
  const tree = ws.result as { mqtt: { pass: string; user: string }; wifi: { sta: { pass: string } } };
  assert.equal(tree.mqtt.pass, "********");
  assert.equal(tree.mqtt.user, "u");
  assert.equal(tree.wifi.sta.pass, "", "an empty secret stays visibly empty");
});

test("a caller the ACL allows Config.GetSecrets sees secrets; others see them redacted", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ccm-acl-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ha1 = (u: string) => createHash("md5").update(`${u}:RPC:pw`).digest("hex");
  await writeFile(join(dir, "users"), `alice:RPC:${ha1("alice")}\nbob:RPC:${ha1("bob")}\n`);
  await writeFile(
    join(dir, "acl.json"),
    JSON.stringify([
      { method: "Config.GetSecrets", acl: "+alice" },
      { method: "*", acl: "+alice,+bob" },
    ]),
  );
  const { d } = await daemon(t, {
    mqtt: { pass: "hunter2" },
    rpc: { auth_file: join(dir, "users"), acl_file: join(dir, "acl.json") },
  });
  const as = async (user: string) =>
    (await call(d, "Config.Get", { key: "mqtt.pass" }, { ...WS, user })).result as string;
  assert.equal(await as("alice"), "hunter2");
  assert.equal(await as("bob"), "********");
});

test("Config.Set answers -32602 naming the path of an unknown key or a wrong type, and 404 for Config.Get of no such key", async (t) => {
  const { d } = await daemon(t);
  const unknown = await call(d, "Config.Set", { config: { wifi: { sta: { sid: "x" } } } }, UART);
  assert.equal(unknown.error?.code, -32602);
  assert.match(String(unknown.error.message), /unknown config key: wifi\.sta\.sid/);
  const type = await call(d, "Config.Set", { config: { host: { baud: "fast" } } }, UART);
  assert.equal(type.error?.code, -32602);
  assert.match(String(type.error.message), /host\.baud must be integer/);
  const missing = await call(d, "Config.Get", { key: "nope.x" }, UART);
  assert.equal(missing.error?.code, 404);
  const keyed = await call(d, "Config.Set", { key: "wifi.sta.ssid", value: "home" }, UART);
  assert.deepEqual(keyed.result, { saved: false });
  assert.equal(d.configServices.store.config.wifi.sta.ssid, "home");
  const restart = await call(d, "Config.Set", { config: { mqtt: { server: "b:1" } } }, UART);
  assert.deepEqual(restart.result, { saved: false, reboot_required: true });
});

test("Sys.FactoryReset is refused from the network without auth and works from serial", async (t) => {
  const { d } = await daemon(t);
  await call(
    d,
    "Config.Set",
    { config: { wifi: { sta: { enable: true, ssid: "home" } } }, save: true },
    UART,
  );
  const ws = await call(d, "Sys.FactoryReset", {}, WS);
  assert.equal(ws.error?.code, 403);
  assert.match(String(ws.error.message), /needs RPC auth/);
  assert.equal(d.configServices.store.config.wifi.sta.ssid, "home");
  const uart = await call(d, "Sys.FactoryReset", {}, UART);
  assert.equal(uart.result, null);
  assert.equal(d.configServices.store.config.wifi.sta.ssid, "");
});

test("Wifi.Scan answers through the network backend, and says how to enable one when there is none", async (t) => {
  const seen = [{ ssid: "home", bssid: "aa:bb:cc:dd:ee:ff", auth: 3, channel: 6, rssi: -50 }];
  const { d } = await daemon(t, {}, seen);
  assert.deepEqual((await call(d, "Wifi.Scan", undefined, UART)).result, seen);
  const { d: none } = await daemon(t);
  const r = await call(none, "Wifi.Scan", undefined, UART);
  assert.match(String(r.error?.message), /wifi\.backend=nmcli/);
});

test("the reset button held for hold_ms factory-resets through the daemon and asks for a restart", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-btn-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const clock = new ManualClock();
  let watcher: ((l: Level) => void) | undefined;
  const button: InputLine = {
    read: () => Promise.resolve(1),
    watch: (fn) => {
      watcher = fn;
      return () => (watcher = undefined);
    },
  };
  const reboots: string[] = [];
  const d = new Daemon({
    config: loadConfig({
      overrides: {
        device: { id: "ccm_b" },
        provision: { btn: { hold_ms: 3000 } },
        rpc: { http: { listen: "127.0.0.1:0" } },
      },
    }),
    dataDir,
    devices: { button, clock },
    reboot: (reason) => reboots.push(reason),
  });
  const store = d.configServices.store;
  store.set({ wifi: { sta: { ssid: "home" } } });
  await d.start();
  t.after(() => d.stop());
  await new Promise((r) => setImmediate(r));
  watcher?.(0);
  clock.advance(2999);
  assert.equal(store.config.wifi.sta.ssid, "home");
  clock.advance(1);
  assert.equal(store.config.wifi.sta.ssid, "");
  clock.advance(300);
  assert.deepEqual(reboots, ["factory reset"]);
});

test("Config.Set saves only with save, and restarts only with save and reboot, as Mongoose OS does", async (t) => {
  const reboots: string[] = [];
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-cs-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const clock = new ManualClock();
  const d = new Daemon({
    config: loadConfig({ overrides: { device: { id: "ccm_r" } } }),
    dataDir,
    devices: { network: new NoNetworkBackend(), clock },
    reboot: (reason) => reboots.push(reason),
  });
  const set = (params: unknown) => call(d, "Config.Set", params, UART).then((r) => r.result);
  assert.deepEqual(await set({ config: { debug: { level: 3 } }, reboot: true }), {
    saved: false,
    reboot_required: true,
  });
  clock.advance(1000);
  assert.deepEqual(reboots, []);
  assert.equal(d.configServices.store.unsaved, true);
  assert.deepEqual(await set({ config: { debug: { level: 4 } }, save: true, reboot: true }), { saved: true });
  assert.equal(d.configServices.store.unsaved, false);
  clock.advance(299);
  assert.deepEqual(reboots, []);
  clock.advance(1);
  assert.deepEqual(reboots, ["Config.Set with save and reboot"]);
});

test("Provision.GetState reports the state machine", async (t) => {
  const { d } = await daemon(t);
  await d.start();
  t.after(() => d.stop());
  await new Promise((r) => setImmediate(r));
  const r = await call(d, "Provision.GetState", undefined, UART);
  assert.deepEqual(r.result, {
    state: 2,
    name: "network up",
    max_state: 2,
    stable_state: 2,
    provisioned: true,
    ap_open: false,
    backend: "none",
  });
});
