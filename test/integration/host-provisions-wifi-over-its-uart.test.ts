import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CcmRunner } from "../../src/daemon/runner.js";
import type { CommandRunner } from "../../src/provisioning/network.js";
import { startSim, until } from "../helpers/daemon.js";
import { ptyPair } from "../helpers/socat.js";

test("an unprovisioned CCM opens CCM-xxxxxx; the host's Config.Set + Config.Save reboot joins Wi-Fi once and closes it", async (t) => {
  const pty = await ptyPair(t);
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-prov-it-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const argv: string[] = [];
  const nmcli: CommandRunner = (file, args) => {
    argv.push([file, ...args].join(" "));
    return Promise.resolve({ code: 0, stdout: "", stderr: "" });
  };
  const sim = await startSim(t, { port: pty.b });
  const runner = new CcmRunner({
    dataDir,
    overrides: {
      device: { id: "ccm_4f2a9c" },
      host: { port: pty.a, probe_ms: 500, ping_ms: 0 },
      rpc: { http: { listen: "127.0.0.1:0" } },
    },
    set: ["wifi.backend=nmcli", "wifi.ifname=wlan0"],
    devices: { commandRunner: nmcli },
  });
  await runner.start();
  t.after(() => runner.stop());
  await until(() => runner.daemon.host.state === "ready", "host ready");
  await until(() => argv.includes("nmcli connection up ccm-ap"), "access point up");
  assert.deepEqual(argv.slice(0, 2), ["nmcli connection delete ccm-sta", "nmcli connection delete ccm-ap"]);
  assert.match(argv[2]!, / ssid CCM-4f2a9c .* ipv4.addresses 192\.168\.4\.1\/24 /);
  assert.deepEqual(((await sim.call("Provision.GetState", undefined, 5000)) as { state: number }).state, 0);

  // The CCM guide's serial provisioning: Config.Set, then Config.Save with reboot.
  await sim.call(
    "Config.Set",
    { config: { wifi: { sta: { enable: true, ssid: "NAME", pass: "PASS" } } } },
    5000,
  );
  assert.deepEqual(await sim.call("Config.Save", { reboot: true }, 5000), { saved: true });
  await until(
    () => runner.restarts === 1 && argv.some((a) => a.includes("wifi connect")),
    "restart and join",
  );
  await until(() => runner.daemon.host.state === "ready", "host ready again");
  await new Promise((r) => setTimeout(r, 700));
  assert.deepEqual(argv.slice(4), [
    "nmcli connection down ccm-ap",
    "nmcli connection delete ccm-sta",
    "nmcli --wait 45 device wifi connect NAME password PASS ifname wlan0 name ccm-sta",
  ]);
  const state = (await sim.call("Provision.GetState", undefined, 5000)) as Record<string, unknown>;
  assert.deepEqual([state.state, state.ap_open, state.max_state], [2, false, 2]);
});
