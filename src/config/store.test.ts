import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { isCcmError } from "../errors.js";
import { createLogger } from "../log/logger.js";
import { PREVIOUS_FILE, SAVED_FILE } from "./saved-file.js";
import { ConfigStore, type ConfigStoreOptions } from "./store.js";

async function dir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "ccm-store-"));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

function open(dataDir: string, more: Partial<ConfigStoreOptions> = {}, lines?: string[]): ConfigStore {
  const logger = lines === undefined ? undefined : createLogger(4, (l) => lines.push(l));
  return ConfigStore.open({ dataDir, ...more, ...(logger === undefined ? {} : { logger }) });
}

test("the saved file sits between the defaults and the command line, and RPC changes sit on top", async (t) => {
  const d = await dir(t);
  await writeFile(
    join(d, SAVED_FILE),
    JSON.stringify({ host: { baud: 9600 }, mqtt: { server: "saved:1883" } }),
  );
  const file = join(d, "vendor.json");
  await writeFile(file, JSON.stringify({ mqtt: { server: "vendor:1883", user: "v" } }));
  const s = open(d, { file, set: ["mqtt.user=cli"] });
  assert.equal(s.config.host.baud, 9600);
  assert.equal(s.config.mqtt.server, "vendor:1883");
  assert.equal(s.config.mqtt.user, "cli");
  s.set({ mqtt: { user: "rpc" } });
  assert.equal(s.config.mqtt.user, "rpc");
});

test("a save survives a restart and keeps the version before it", async (t) => {
  const d = await dir(t);
  const a = open(d);
  a.set({ wifi: { sta: { ssid: "one" } } });
  a.save();
  a.set({ wifi: { sta: { ssid: "two" } } });
  a.save();
  assert.equal(open(d).config.wifi.sta.ssid, "two");
  const prev = JSON.parse(await readFile(join(d, PREVIOUS_FILE), "utf8")) as {
    wifi: { sta: { ssid: string } };
  };
  assert.equal(prev.wifi.sta.ssid, "one");
});

test("unsaved changes are lost on restart", async (t) => {
  const d = await dir(t);
  const a = open(d);
  a.set({ debug: { level: 4 } });
  assert.equal(a.unsaved, true);
  assert.equal(open(d).config.debug.level, 2);
});

test("a torn saved file falls back to the previous version and says so", async (t) => {
  const d = await dir(t);
  const a = open(d);
  a.set({ device: { id: "good" } });
  a.save();
  a.set({ device: { id: "newer" } });
  a.save();
  const text = await readFile(join(d, SAVED_FILE), "utf8");
  await writeFile(join(d, SAVED_FILE), text.slice(0, text.length / 2));
  const lines: string[] = [];
  assert.equal(open(d, {}, lines).config.device.id, "good");
  assert.match(lines.join(""), /config\.json: .*JSON/);
  assert.match(lines.join(""), /using .*config\.prev\.json/);
});

test("a saved file the schema no longer accepts is skipped, and with no good version the defaults are used", async (t) => {
  const d = await dir(t);
  await writeFile(join(d, SAVED_FILE), JSON.stringify({ host: { baud: "fast" } }));
  await writeFile(join(d, PREVIOUS_FILE), "\0\0\0");
  const lines: string[] = [];
  const s = open(d, {}, lines);
  assert.equal(s.config.host.baud, 115200);
  assert.match(lines.join(""), /host\.baud must be integer/);
  assert.match(lines.join(""), /starting from defaults/);
});

test("Config.Set is atomic: an unknown key or a wrong type changes nothing and names the path", (t) => {
  return dir(t).then((d) => {
    const s = open(d);
    const bad = (delta: Record<string, unknown>, re: RegExp) => {
      assert.throws(
        () => s.set(delta),
        (e) => isCcmError(e, "CONFIG_INVALID") && e.rpcCode === -32602 && re.test(e.message),
      );
    };
    bad({ wifi: { sta: { ssid: "x", nope: 1 } } }, /unknown config key: wifi\.sta\.nope/);
    bad({ debug: { level: "high" } }, /debug\.level must be integer/);
    assert.equal(s.config.wifi.sta.ssid, "");
  });
});

test("set reports what changed and whether a restart is needed", async (t) => {
  const s = open(await dir(t));
  assert.deepEqual(s.set({ wifi: { sta: { ssid: "x" } }, debug: { level: 2 } }), {
    changed: ["wifi.sta.ssid"],
    reboot: false,
  });
  assert.deepEqual(s.set({ mqtt: { server: "b:1" } }), { changed: ["mqtt.server"], reboot: true });
});

test("locked keys are refused, the lock cannot be changed over RPC, and internal bookkeeping passes", async (t) => {
  const d = await dir(t);
  const s = open(d, { set: ["config.lock=mqtt,dash.token"] });
  assert.deepEqual(s.locks, ["mqtt", "dash.token"]);
  for (const delta of [{ mqtt: { server: "x:1" } }, { dash: { token: "t" } }, { config: { lock: [] } }]) {
    assert.throws(
      () => s.set(delta),
      (e) => isCcmError(e, "CONFIG_LOCKED") && e.rpcCode === 403 && /is locked by the vendor/.test(e.message),
    );
  }
  s.set({ dash: { enable: true } });
  s.set({ mqtt: { server: "own:1" } }, { internal: true });
  assert.equal(s.config.mqtt.server, "own:1");
  assert.throws(
    () => open(d, { set: ["config.lock=*"] }).set({ debug: { level: 3 } }),
    /debug\.level is locked/,
  );
});

test("factory reset wipes user config and Wi-Fi, from disk too, but keeps vendor-locked keys", async (t) => {
  const d = await dir(t);
  const s = open(d, { set: ["config.lock=dash"] });
  s.set({ dash: { token: "vendor-token" } }, { internal: true });
  s.set({ wifi: { sta: { enable: true, ssid: "home", pass: "secret1" } }, debug: { level: 3 } });
  s.save();
  s.factoryReset();
  assert.equal(s.config.wifi.sta.ssid, "");
  assert.equal(s.config.debug.level, 2);
  assert.equal(s.config.dash.token, "vendor-token");
  for (const f of [SAVED_FILE, PREVIOUS_FILE])
    assert.doesNotMatch(await readFile(join(d, f), "utf8"), /secret1/);
  assert.equal(open(d, { set: ["config.lock=dash"] }).config.dash.token, "vendor-token");
});

test("the redaction marker sent back for a secret leaves the secret as it was", async (t) => {
  const s = open(await dir(t));
  s.set({ mqtt: { pass: "p4ss" } });
  s.set({ mqtt: { pass: "********", user: "u" } });
  assert.equal(s.config.mqtt.pass, "p4ss");
});

test("a save that cannot be written is CONFIG_SAVE_FAILED and the running change stays", async (t) => {
  const d = await dir(t);
  const s = open(d);
  s.set({ debug: { level: 3 } });
  await rm(d, { recursive: true, force: true });
  await writeFile(d, "a file where the data dir was");
  assert.throws(
    () => {
      s.save();
    },
    (e) => isCcmError(e, "CONFIG_SAVE_FAILED") && /error saving config/.test(e.message),
  );
  assert.equal(s.config.debug.level, 3);
  assert.equal(s.unsaved, true);
});

test("keys this version does not know, and a lock, are dropped from the saved file with a warning; the rest is kept", async (t) => {
  const d = await dir(t);
  await writeFile(
    join(d, SAVED_FILE),
    JSON.stringify({ wifi: { sta: { ssid: "home", band: "5g" } }, old: { x: 1 }, config: { lock: [] } }),
  );
  const lines: string[] = [];
  const s = open(d, { set: ["config.lock=mqtt"] }, lines);
  assert.equal(s.config.wifi.sta.ssid, "home");
  assert.deepEqual(s.locks, ["mqtt"]);
  const log = lines.join("");
  assert.match(log, /ignoring wifi\.sta\.band \(unknown key\)/);
  assert.match(log, /ignoring old\.x \(unknown key\)/);
  assert.match(log, /ignoring config\.lock \(vendor only\)/);
  assert.doesNotMatch(log, /skipped/);
});
