import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { startCcm } from "../helpers/cli.js";
import { until } from "../helpers/daemon.js";
import { fakeNmcli } from "../helpers/fake-nmcli.js";
import { curl } from "../helpers/remote.js";

/** An unprovisioned `ccm start` with the nmcli backend (the fake), its access point open. */
async function unprovisionedCcm(t: TestContext) {
  const nm = await fakeNmcli(t);
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-curl-wifi-"));
  const sets = ["device.id=ccm_5e1f00", "wifi.backend=nmcli", "wifi.ifname=wlan0"];
  const ccm = startCcm(t, ["--data-dir", dataDir, ...sets.flatMap((s) => ["--set", s])], {
    PATH: `${nm.bin}:${process.env.PATH ?? ""}`,
  });
  // After startCcm's hook: the CCM is gone before its data dir is removed.
  t.after(() => rm(dataDir, { recursive: true, force: true, maxRetries: 5 }));
  await until(
    async () => (await nm.calls()).includes("nmcli connection up ccm-ap"),
    "the access point",
    30_000,
  );
  assert.equal((await nm.calls()).length, 4, "forget ccm-sta, then delete, add and bring up ccm-ap");
  await until(() => ccm.httpUrl() !== "", "the HTTP server", 30_000);
  const url = ccm.httpUrl();
  const get = async (method: string, params: unknown): Promise<unknown> =>
    JSON.parse((await curl(["-d", JSON.stringify(params), `${url}/rpc/${method}`])).body);
  const savedWifi = async (): Promise<unknown> =>
    (JSON.parse(await readFile(join(dataDir, "config.json"), "utf8").catch(() => "{}")) as { wifi?: unknown })
      .wifi;
  return { nm, url, get, savedWifi };
}

const JOIN_X = [
  "nmcli connection down ccm-ap",
  "nmcli connection delete ccm-sta",
  "nmcli --wait 45 device wifi connect X password Y ifname wlan0 name ccm-sta",
];

test("the issue's curl Config.Set has no id, so it is a notification: 204 and no body; wifi.sta lands in the running config, unsaved and not joined, until Config.Save joins it once", async (t) => {
  const { nm, url, get, savedWifi } = await unprovisionedCcm(t);
  const set = await curl([
    "-d",
    '{"method":"Config.Set","params":{"config":{"wifi":{"sta":{"enable":true,"ssid":"X","pass":"Y"}}}}}',
    `${url}/rpc`,
  ]);
  assert.equal(set.status, 204);
  assert.equal(set.body, "");
  assert.deepEqual(await get("Config.Get", { key: "wifi.sta" }), {
    enable: true,
    ssid: "X",
    pass: "********",
  });
  assert.equal(await savedWifi(), undefined, "not saved");
  const state = (await get("Provision.GetState", {})) as Record<string, unknown>;
  assert.deepEqual([state.state, state.ap_open], [0, true], "the state machine acts on saves only");
  assert.equal((await nm.calls()).length, 4, "no join");

  const save = await curl(["-d", '{"id":2,"method":"Config.Save"}', `${url}/rpc`]);
  assert.deepEqual(JSON.parse(save.body), { id: 2, src: "ccm_5e1f00", result: { saved: true } });
  assert.deepEqual(await savedWifi(), { sta: { enable: true, ssid: "X", pass: "Y" } });
  await until(async () => (await nm.calls()).length === 7, "the join", 30_000);
  assert.deepEqual((await nm.calls()).slice(4), JOIN_X);
  const joined = (await get("Provision.GetState", {})) as Record<string, unknown>;
  assert.deepEqual([joined.state, joined.ap_open], [2, false]);
});

test("the same curl Config.Set with save: true saves and joins at once", async (t) => {
  const { nm, url, savedWifi } = await unprovisionedCcm(t);
  const set = await curl([
    "-d",
    '{"method":"Config.Set","params":{"config":{"wifi":{"sta":{"enable":true,"ssid":"X","pass":"Y"}}},"save":true}}',
    `${url}/rpc`,
  ]);
  assert.equal(set.status, 204);
  assert.deepEqual(await savedWifi(), { sta: { enable: true, ssid: "X", pass: "Y" } });
  await until(async () => (await nm.calls()).length === 7, "the join", 30_000);
  assert.deepEqual((await nm.calls()).slice(4), JOIN_X);
});
