import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { startCcm, type RunningCcm } from "../helpers/cli.js";
import { until } from "../helpers/daemon.js";
import { fakeGpiod, type FakeGpiod } from "../helpers/fake-gpiod.js";
import { fakeNmcli } from "../helpers/fake-nmcli.js";
import { aclFile, curl, htdigestFile } from "../helpers/remote.js";

/** What NetworkManager is told when the CCM (device id ccm_5e1f00) opens its access point on wlan0. */
const OPEN_AP = [
  "nmcli connection delete ccm-ap",
  "nmcli connection add type wifi ifname wlan0 con-name ccm-ap autoconnect no ssid CCM-5e1f00 802-11-wireless.mode ap 802-11-wireless.band bg 802-11-wireless.channel 6 ipv4.method shared ipv4.addresses 192.168.4.1/24 ipv6.method disabled",
  "nmcli connection up ccm-ap",
];
const JOIN_HOME = [
  "nmcli connection delete ccm-sta",
  "nmcli --wait 45 device wifi connect Home password hunter22 ifname wlan0 name ccm-sta",
];

/**
 * A provisioned CCM (Wi-Fi "Home" and a user key saved, a vendor-locked dash.token) run as
 * `ccm start` with the nmcli backend, whose `nmcli` (and, given `gpio`, libgpiod tools) are the fakes.
 */
async function provisionedCcm(t: TestContext, set: string[], gpio?: FakeGpiod, live: Live = {}) {
  const nm = await fakeNmcli(t);
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-reset-"));
  await writeFile(
    join(dataDir, "config.json"),
    JSON.stringify({
      wifi: { sta: { enable: true, ssid: "Home", pass: "hunter22" } },
      host: { inbox_max: 100 },
      dash: { token: "vendor-token" },
    }),
  );
  const sets = [
    "device.id=ccm_5e1f00",
    "wifi.backend=nmcli",
    "wifi.ifname=wlan0",
    "config.lock=dash",
    ...set,
  ];
  const path = [nm.bin, ...(gpio === undefined ? [] : [gpio.bin]), process.env.PATH ?? ""].join(":");
  const ccm = startCcm(t, ["--data-dir", dataDir, ...sets.flatMap((s) => ["--set", s])], { PATH: path });
  live.ccm = ccm;
  // After startCcm's hook: the CCM is gone before its data dir is removed.
  t.after(() => rm(dataDir, { recursive: true, force: true, maxRetries: 5 }));
  await until(async () => (await nm.calls()).length === 2, "the join", 30_000);
  assert.deepEqual(await nm.calls(), JOIN_HOME);
  await until(() => ccm.httpUrl() !== "", "the HTTP server", 30_000);
  const saved = async (): Promise<unknown> =>
    JSON.parse(await readFile(join(dataDir, "config.json"), "utf8"));
  return { ccm, nm, saved };
}

/** What a failed test must end: the CCM, then the fake gpiomon it started (or it polls forever). */
interface Live {
  ccm?: RunningCcm;
  gpio?: FakeGpiod;
}

/** Stops `ccm start` as a service manager would; it exits 0. */
async function stop(ccm: RunningCcm): Promise<void> {
  const exited = new Promise((resolve) => ccm.child.once("exit", resolve));
  ccm.child.kill("SIGTERM");
  assert.equal(await exited, 0);
}

test("holding the reset button for hold_ms forgets the Wi-Fi profile, wipes Wi-Fi and user config but not vendor-locked keys, and reopens the access point", async (t) => {
  // Registered first, so it runs before the fakes' own clean-up removes their state.
  const live: Live = {};
  t.after(async () => {
    await live.ccm?.kill();
    for (const pid of (await live.gpio?.holders()) ?? []) process.kill(pid, "SIGKILL");
  });
  const gpio = (live.gpio = await fakeGpiod(t, 2));
  const rig = await provisionedCcm(t, ["provision.btn.pin=17", "provision.btn.hold_ms=300"], gpio, live);
  const ccm = rig.ccm;
  const before = ccm.httpUrl();
  const gpiomons = async () => (await gpio.calls()).filter((c) => c.tool === "gpiomon").map((c) => c.pid);
  const watching = async (n: number) => {
    const pids = await gpiomons();
    return pids.length === n && (await gpio.holders()).includes(pids[n - 1]!);
  };
  await until(() => watching(1), "gpiomon to watch the button", 30_000);

  await gpio.setInput("gpiochip0", 17, 0);
  await until(async () => (await rig.nm.calls()).length === 6, "the access point", 30_000);
  assert.deepEqual(await rig.nm.calls(), [...JOIN_HOME, "nmcli connection delete ccm-sta", ...OPEN_AP]);
  assert.match(ccm.log(), /factory reset: reset button held/);
  // The fake records a command line before it has changed its profiles.
  await until(async () => Object.keys(await rig.nm.profiles()).join() === "ccm-ap", "the AP profile", 10_000);
  assert.deepEqual(
    Object.keys(await rig.nm.profiles()),
    ["ccm-ap"],
    "NetworkManager keeps no profile for Home",
  );
  assert.deepEqual(await rig.saved(), { dash: { token: "vendor-token" } });

  await until(() => ccm.httpUrl() !== before, "the restarted components to listen", 30_000);
  const url = ccm.httpUrl();
  const state = JSON.parse((await curl([`${url}/rpc/Provision.GetState`])).body) as Record<string, unknown>;
  assert.deepEqual([state.state, state.ap_open], [0, true]);
  const sta = await curl(["-g", `${url}/rpc/Config.Get?key="wifi.sta"`]);
  assert.deepEqual(JSON.parse(sta.body), { enable: false, ssid: "", pass: "" });
  assert.equal((await curl(["-g", `${url}/rpc/Config.Get?key="host.inbox_max"`])).body, "256\r\n");

  // Still held after the reset it caused: one long press is one reset.
  await until(() => watching(2), "gpiomon to watch the button again", 30_000);
  await gpio.setInput("gpiochip0", 17, 1);
  await stop(ccm);
  assert.equal((await rig.nm.calls()).at(-1), "nmcli connection down ccm-ap", "closed on the way out");
  assert.equal((await rig.nm.calls()).length, 7, "no second reset");
  assert.deepEqual(await gpio.holders(), []);
});

test("Sys.FactoryReset over HTTP is governed by the ACL: a user it denies is refused and nothing is reset; an allowed user resets, and the CCM forgets Home and reopens the access point", async (t) => {
  const users = await htdigestFile(t, "RPC", { admin: "adminpw", bob: "bobpw" });
  const acl = await aclFile(t, [
    { method: "Sys.FactoryReset", acl: "+admin" },
    { method: "*", acl: "+admin,+bob" },
  ]);
  const { ccm, nm, saved } = await provisionedCcm(t, [`rpc.auth_file=${users}`, `rpc.acl_file=${acl}`]);
  const before = ccm.httpUrl();
  const as = (user: string, pass: string, path: string, more: string[] = []) =>
    curl(["--digest", "-u", `${user}:${pass}`, ...more, `${ccm.httpUrl()}${path}`]);

  const bob = await as("bob", "bobpw", "/rpc/Sys.FactoryReset", ["-X", "POST"]);
  assert.equal(bob.status, 403, bob.body);
  const frame = await as("bob", "bobpw", "/rpc", ["-d", '{"id":7,"method":"Sys.FactoryReset"}']);
  assert.equal((JSON.parse(frame.body) as { error: { code: number } }).error.code, 403, frame.body);
  assert.equal(
    (await as("bob", "bobpw", "/rpc/Config.Get", ["-d", '{"key":"wifi.sta.ssid"}'])).body,
    '"Home"\r\n',
  );
  assert.deepEqual(await nm.calls(), JOIN_HOME, "nothing forgotten");
  assert.deepEqual(
    ((await saved()) as { wifi: unknown }).wifi,
    { sta: { enable: true, ssid: "Home", pass: "hunter22" } },
    "nothing wiped",
  );
  assert.equal(ccm.httpUrl(), before, "no restart");

  const admin = await as("admin", "adminpw", "/rpc/Sys.FactoryReset", ["-X", "POST"]);
  assert.equal(admin.status, 200, admin.body);
  assert.equal(admin.body, "null\r\n");
  await until(async () => (await nm.calls()).length === 6, "the access point", 30_000);
  assert.deepEqual(await nm.calls(), [...JOIN_HOME, "nmcli connection delete ccm-sta", ...OPEN_AP]);
  assert.match(ccm.log(), /factory reset: Sys\.FactoryReset from HTTP \(admin\)/);
  // The fake records a command line before it has changed its profiles.
  await until(async () => Object.keys(await nm.profiles()).join() === "ccm-ap", "the AP profile", 10_000);
  assert.deepEqual(Object.keys(await nm.profiles()), ["ccm-ap"]);
  assert.deepEqual(await saved(), { dash: { token: "vendor-token" } });

  await until(() => ccm.httpUrl() !== before, "the restarted components to listen", 30_000);
  const state = JSON.parse((await as("admin", "adminpw", "/rpc/Provision.GetState")).body) as Record<
    string,
    unknown
  >;
  assert.deepEqual([state.state, state.ap_open], [0, true]);
  const sta = await as("admin", "adminpw", "/rpc/Config.Get", ["-d", '{"key":"wifi.sta"}']);
  assert.deepEqual(JSON.parse(sta.body), { enable: false, ssid: "", pass: "" });
  await stop(ccm);
});
