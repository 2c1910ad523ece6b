import assert from "node:assert/strict";
import { test } from "node:test";
import { isCcmError } from "../errors.js";
import type { CommandResult, CommandRunner } from "./network.js";
import { NmcliBackend, parseScan } from "./nmcli.js";

/** A command runner that records argv and answers from a script. */
function recorder(answer: (args: readonly string[]) => Partial<CommandResult> = () => ({})) {
  const calls: string[][] = [];
  const run: CommandRunner = (file, args) => {
    calls.push([file, ...args]);
    return Promise.resolve({ code: 0, stdout: "", stderr: "", ...answer(args) });
  };
  return { calls, run };
}

test("joining a network replaces the ccm-sta profile: delete it, then nmcli device wifi connect with the password, the interface and the name ccm-sta", async () => {
  // The first delete finds no profile: nmcli's exit status 10, which the join ignores.
  const r = recorder((args) =>
    args[1] === "delete" ? { code: 10, stderr: "Error: unknown connection 'ccm-sta'.\n" } : {},
  );
  await new NmcliBackend(r.run, "wlan0").join("Home Net", "p@ss word");
  assert.deepEqual(r.calls, [
    ["nmcli", "connection", "delete", "ccm-sta"],
    [
      "nmcli",
      "--wait",
      "45",
      "device",
      "wifi",
      "connect",
      "Home Net",
      "password",
      "p@ss word",
      "ifname",
      "wlan0",
      "name",
      "ccm-sta",
    ],
  ]);
  const open = recorder();
  await new NmcliBackend(open.run).join("Cafe", "");
  assert.deepEqual(open.calls, [
    ["nmcli", "connection", "delete", "ccm-sta"],
    ["nmcli", "--wait", "45", "device", "wifi", "connect", "Cafe", "name", "ccm-sta"],
  ]);
});

test("forgetting the station deletes the ccm-sta profile; no such profile is no error, any other failure is NETWORK_FAILED", async () => {
  const r = recorder();
  const nm = new NmcliBackend(r.run, "wlan0");
  await nm.join("Home", "secret99");
  assert.equal(nm.station().status, "connected");
  await nm.forget();
  assert.deepEqual(r.calls.at(-1), ["nmcli", "connection", "delete", "ccm-sta"]);
  assert.deepEqual(nm.station(), { status: "disconnected", ssid: "" });
  const none = recorder(() => ({ code: 10, stderr: "Error: unknown connection 'ccm-sta'.\n" }));
  await new NmcliBackend(none.run).forget();
  const denied = recorder(() => ({ code: 1, stderr: "Error: Insufficient privileges.\n" }));
  await assert.rejects(
    new NmcliBackend(denied.run).forget(),
    (e) =>
      isCcmError(e, "NETWORK_FAILED") &&
      e.message === "nmcli could not forget ccm-sta: Insufficient privileges.",
  );
});

test("the access point is a fresh ccm-ap profile in AP mode sharing 192.168.4.1/24, then brought up; closing it brings it down", async () => {
  const r = recorder();
  const nm = new NmcliBackend(r.run, "wlan0");
  await nm.startAp({ ssid: "CCM-a1b2c3", pass: "", channel: 6, ip: "192.168.4.1" });
  await nm.stopAp();
  assert.deepEqual(r.calls, [
    ["nmcli", "connection", "delete", "ccm-ap"],
    [
      "nmcli",
      "connection",
      "add",
      "type",
      "wifi",
      "ifname",
      "wlan0",
      "con-name",
      "ccm-ap",
      "autoconnect",
      "no",
      "ssid",
      "CCM-a1b2c3",
      "802-11-wireless.mode",
      "ap",
      "802-11-wireless.band",
      "bg",
      "802-11-wireless.channel",
      "6",
      "ipv4.method",
      "shared",
      "ipv4.addresses",
      "192.168.4.1/24",
      "ipv6.method",
      "disabled",
    ],
    ["nmcli", "connection", "up", "ccm-ap"],
    ["nmcli", "connection", "down", "ccm-ap"],
  ]);
  const secured = recorder();
  await new NmcliBackend(secured.run).startAp({
    ssid: "CCM-1",
    pass: "12345678",
    channel: 11,
    ip: "10.1.1.1",
  });
  assert.deepEqual(secured.calls[1]!.slice(-4), ["wifi-sec.key-mgmt", "wpa-psk", "wifi-sec.psk", "12345678"]);
  assert.equal(secured.calls[1]![6], "*");
});

test("a scan is nmcli's terse list, parsed into Wifi.Scan entries with escaped colons undone", async () => {
  const out = [
    "Home\\:Net:AA\\:BB\\:CC\\:DD\\:EE\\:01:6:80:WPA2",
    "Cafe:AA\\:BB\\:CC\\:DD\\:EE\\:02:11:40:",
    "Office:AA\\:BB\\:CC\\:DD\\:EE\\:03:36:100:WPA1 WPA2 802.1X",
    "Mixed:AA\\:BB\\:CC\\:DD\\:EE\\:04:1:20:WPA1 WPA2",
    "",
  ].join("\n");
  const r = recorder(() => ({ stdout: out }));
  const list = await new NmcliBackend(r.run).scan();
  assert.deepEqual(r.calls, [
    [
      "nmcli",
      "--terse",
      "--escape",
      "yes",
      "--fields",
      "SSID,BSSID,CHAN,SIGNAL,SECURITY",
      "device",
      "wifi",
      "list",
      "--rescan",
      "yes",
    ],
  ]);
  assert.deepEqual(list, [
    { ssid: "Home:Net", bssid: "aa:bb:cc:dd:ee:01", auth: 3, channel: 6, rssi: -60 },
    { ssid: "Cafe", bssid: "aa:bb:cc:dd:ee:02", auth: 0, channel: 11, rssi: -80 },
    { ssid: "Office", bssid: "aa:bb:cc:dd:ee:03", auth: 5, channel: 36, rssi: -50 },
    { ssid: "Mixed", bssid: "aa:bb:cc:dd:ee:04", auth: 4, channel: 1, rssi: -90 },
  ]);
  assert.deepEqual(parseScan("garbage\n"), []);
});

test("an nmcli failure is NETWORK_FAILED carrying nmcli's own words", async () => {
  const r = recorder(() => ({ code: 10, stderr: "Error: No network with SSID 'Nope' found.\n" }));
  await assert.rejects(
    new NmcliBackend(r.run).join("Nope", "x"),
    (e) =>
      isCcmError(e, "NETWORK_FAILED") &&
      e.message === "nmcli could not join Nope: No network with SSID 'Nope' found.",
  );
});

test("station() reports the last join: connecting while nmcli runs, then connected, or failed with nmcli's reason", async () => {
  // The profile delete before each join answers at once; the connect waits for the test.
  let connecting: ((r: Partial<CommandResult>) => void) | undefined;
  const run: CommandRunner = (_file, args) =>
    new Promise((resolve) => {
      const answer = (r: Partial<CommandResult>): void => {
        resolve({ code: 0, stdout: "", stderr: "", ...r });
      };
      if (args.includes("connect")) connecting = answer;
      else answer({});
    });
  const finish = async (r: Partial<CommandResult>): Promise<void> => {
    while (connecting === undefined) await new Promise((resolve) => setImmediate(resolve));
    const answer = connecting;
    connecting = undefined;
    answer(r);
  };
  const nm = new NmcliBackend(run);
  assert.deepEqual(nm.station(), { status: "disconnected", ssid: "" });
  const joining = nm.join("Home", "secret99");
  assert.deepEqual(nm.station(), { status: "connecting", ssid: "Home" });
  await finish({});
  await joining;
  assert.deepEqual(nm.station(), { status: "connected", ssid: "Home" });
  const failing = nm.join("Away", "wrong");
  await finish({ code: 4, stderr: "Error: Connection activation failed: Secrets were required.\n" });
  await assert.rejects(failing);
  assert.deepEqual(nm.station(), {
    status: "failed",
    ssid: "Away",
    error: "nmcli could not join Away: Connection activation failed: Secrets were required.",
  });
});
