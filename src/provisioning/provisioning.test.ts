import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { ConfigStore } from "../config/store.js";
import { CcmError } from "../errors.js";
import type { Level, OutputLine } from "../lines/digital-line.js";
import { ManualClock } from "../../test/helpers/manual-clock.js";
import type { AccessPoint, NetworkBackend, ScanResult, StationStatus } from "./network.js";
import { apName, ProvisioningService } from "./provisioning.js";
import { StatusLed } from "./status-led.js";

class FakeNetwork implements NetworkBackend {
  readonly name = "fake";
  managedByOs = false;
  calls: string[] = [];
  joinFails = false;
  station(): StationStatus {
    return { status: "disconnected", ssid: "" };
  }
  join(ssid: string, pass: string): Promise<void> {
    this.calls.push(`join ${ssid} ${pass}`);
    return this.joinFails
      ? Promise.reject(new CcmError("NETWORK_FAILED", "no such network"))
      : Promise.resolve();
  }
  forget(): Promise<void> {
    this.calls.push("forget");
    return Promise.resolve();
  }
  startAp(ap: AccessPoint): Promise<void> {
    this.calls.push(`ap up ${ap.ssid} ${ap.ip}`);
    return Promise.resolve();
  }
  stopAp(): Promise<void> {
    this.calls.push("ap down");
    return Promise.resolve();
  }
  scan(): Promise<ScanResult[]> {
    return Promise.resolve([]);
  }
}

class RecordingLine implements OutputLine {
  levels: Level[] = [];
  write(level: Level): void {
    this.levels.push(level);
  }
  close(): void {
    this.levels.push(0);
  }
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

async function rig(t: TestContext, set: string[] = []) {
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-prov-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const store = ConfigStore.open({ dataDir, set });
  const network = new FakeNetwork();
  const clock = new ManualClock();
  const line = new RecordingLine();
  const resets: string[] = [];
  const svc = new ProvisioningService({
    store,
    network,
    clock,
    deviceId: "ccm_a1b2c3",
    led: new StatusLed(line, clock, true),
    factoryReset: (reason) => resets.push(reason),
    retryMs: 30_000,
  });
  t.after(() => svc.stop());
  return { dataDir, store, network, clock, line, resets, svc };
}

test("the access point is named from the device id", () => {
  assert.equal(apName("CCM-??????", "ccm_a1b2c3"), "CCM-a1b2c3");
  assert.equal(apName("CCM-????", "x1"), "CCM-00x1");
  assert.equal(apName("MyCCM", "ccm_a1b2c3"), "MyCCM");
});

test("an unprovisioned CCM forgets any network it joined before, opens its access point and blinks the LED slowly", async (t) => {
  const { network, svc, clock, line } = await rig(t);
  svc.start();
  await settle();
  assert.equal(svc.state, 0);
  assert.deepEqual(network.calls, ["forget", "ap up CCM-a1b2c3 192.168.4.1"]);
  line.levels = [];
  clock.advance(2000);
  assert.deepEqual(line.levels, [0, 1, 0, 1]);
});

test("Wi-Fi set and saved: the CCM joins, closes the access point, lights the LED and remembers the state", async (t) => {
  const { network, svc, store, line, dataDir, clock } = await rig(t);
  svc.start();
  await settle();
  store.set({ wifi: { sta: { enable: true, ssid: "Home", pass: "pw" } } });
  await settle();
  assert.deepEqual(
    network.calls,
    ["forget", "ap up CCM-a1b2c3 192.168.4.1"],
    "nothing happens before the save",
  );
  store.save();
  await settle();
  assert.equal(network.calls.length, 2, "a save is acted on once it has settled");
  clock.advance(500);
  await settle();
  assert.deepEqual(network.calls.slice(2), ["ap down", "join Home pw"]);
  assert.equal(svc.state, 2);
  assert.equal(line.levels.at(-1), 1);
  const saved = JSON.parse(await readFile(join(dataDir, "config.json"), "utf8")) as {
    provision: { max_state: number };
  };
  assert.equal(saved.provision.max_state, 2);
  svc.cloudConnected(true);
  assert.equal(svc.state, 3);
});

test("a wrong password reopens the access point, retries, and factory-resets after provision.timeout", async (t) => {
  const { network, svc, store, clock, resets } = await rig(t);
  network.joinFails = true;
  store.set({ wifi: { sta: { enable: true, ssid: "Home", pass: "typo" } } });
  store.save();
  svc.start();
  await settle();
  assert.equal(svc.state, 1);
  assert.deepEqual(network.calls, ["join Home typo", "ap up CCM-a1b2c3 192.168.4.1"]);
  clock.advance(30_000);
  await settle();
  assert.deepEqual(network.calls.slice(2), ["ap down", "join Home typo", "ap up CCM-a1b2c3 192.168.4.1"]);
  clock.advance(269_000);
  await settle();
  assert.deepEqual(resets, []);
  clock.advance(1_000);
  assert.deepEqual(resets, ["provisioning did not reach state 2 within 300 s"]);
});

test("a CCM that was provisioned once is never reset by the timeout", async (t) => {
  const { network, svc, store, clock, resets } = await rig(t);
  store.persist({ provision: { max_state: 2 } });
  network.joinFails = true;
  store.set({ wifi: { sta: { enable: true, ssid: "Home", pass: "x" } } });
  svc.start();
  await settle();
  clock.advance(3_600_000);
  await settle();
  assert.deepEqual(resets, []);
  assert.equal(svc.provisioned, true);
});

test("stable_state 0 disables the reset", async (t) => {
  const { network, svc, store, clock, resets } = await rig(t, ["provision.stable_state=0"]);
  network.joinFails = true;
  store.set({ wifi: { sta: { enable: true, ssid: "Home", pass: "x" } } });
  svc.start();
  await settle();
  clock.advance(3_600_000);
  await settle();
  assert.deepEqual(resets, []);
});

test("with the network left to the OS there is no access point and the CCM counts as online", async (t) => {
  const { network, svc } = await rig(t);
  network.managedByOs = true;
  svc.start();
  await settle();
  assert.equal(svc.state, 2);
  assert.deepEqual(network.calls, []);
});

test("with wifi.ap.enable false an unprovisioned CCM opens no access point", async (t) => {
  const { network, svc } = await rig(t, ["wifi.ap.enable=false"]);
  svc.start();
  await settle();
  assert.equal(svc.state, 0);
  assert.deepEqual(network.calls, ["forget"]);
});

test("after a factory reset the CCM forgets the network it joined, then reopens its access point", async (t) => {
  const { network, svc, store, clock } = await rig(t);
  store.set({ wifi: { sta: { enable: true, ssid: "Home", pass: "pw" } } });
  store.save();
  svc.start();
  await settle();
  assert.deepEqual(network.calls, ["join Home pw"]);
  assert.equal(svc.state, 2);
  store.factoryReset();
  clock.advance(500);
  await settle();
  assert.deepEqual(network.calls.slice(1), ["forget", "ap up CCM-a1b2c3 192.168.4.1"]);
  assert.deepEqual([svc.state, svc.apOpen], [0, true]);
  store.set({ debug: { level: 3 } });
  store.save();
  clock.advance(500);
  await settle();
  assert.deepEqual(network.calls.slice(3), [], "forgotten once: later saves while unprovisioned run nothing");
});
