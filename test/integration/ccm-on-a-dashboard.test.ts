/** The CCM connected to an mDash-style dashboard (the local one in src/sim/dash-server.ts). */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { DashServerSim } from "../../src/sim/dash-server.js";
import { until } from "../helpers/daemon.js";
import { remoteRig } from "../helpers/remote.js";

async function rig(t: TestContext, token = "tok-1") {
  const dash = await DashServerSim.start({ "tok-1": "ccm_test" });
  t.after(() => dash.close());
  const { sim, daemon } = await remoteRig(t, {
    dash: { enable: true, server: dash.url, token },
    mqtt: { reconnect_min_ms: 100, reconnect_max_ms: 300 },
  });
  return { dash, sim, daemon };
}

test("the CCM says hello with Dash.Heartbeat carrying its Sys.GetInfo, and the dashboard calls the CCM and its host", async (t) => {
  const { dash, daemon } = await rig(t);
  await until(() => dash.online("ccm_test"), "online at the dashboard", 10_000);
  assert.equal((dash.info("ccm_test") as { id: string }).id, "ccm_test");
  assert.deepEqual(await dash.call("ccm_test", "Sum", [2, 3]), { result: 5 });
  const info = (await dash.call("ccm_test", "Sys.GetInfo")).result as { dash: { connected: boolean } };
  assert.equal(info.dash.connected, true);
  assert.equal((await dash.call("ccm_test", "No.Such")).error?.code, -32601);
  assert.equal(daemon.shadow?.backend.kind, "dash");
});

test("the host's Shadow.Report reaches the dashboard's shadow, and desired set there reaches the host as Shadow.Delta", async (t) => {
  const { dash, sim } = await rig(t);
  await until(() => dash.online("ccm_test"), "online", 10_000);
  await sim.call("Shadow.Report", { on: false, temp: 20 }, 5000);
  const reported = () =>
    (dash.shadow("ccm_test").state as { reported?: { on?: boolean; temp?: number } }).reported;
  assert.deepEqual(reported(), { on: false, temp: 20 });
  dash.setDesired("ccm_test", { on: true });
  await until(() => sim.state.on, "the host's LED on");
  await until(() => reported()?.on === true, "the host reported on");
  assert.equal((dash.shadow("ccm_test").state as { delta?: unknown }).delta, undefined);
});

test("a desired change made while the CCM was away reaches the host when it reconnects", async (t) => {
  const { dash, sim } = await rig(t);
  await until(() => dash.online("ccm_test"), "online", 10_000);
  dash.refusing = true;
  dash.dropAll();
  await until(() => !dash.online("ccm_test"), "offline");
  // No device connected: the change waits in the shadow, as mDash keeps it.
  dash.setDesired("ccm_test", { on: true });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(sim.state.on, false);
  dash.refusing = false;
  await until(() => sim.state.on, "the host's LED on after reconnecting", 10_000);
});

test("a wrong token is refused with 401 and the CCM keeps the reason", async (t) => {
  const { dash, daemon } = await rig(t, "wrong");
  await until(() => /401/.test(daemon.dash?.lastError ?? ""), "the refusal", 10_000);
  assert.match(daemon.dash!.lastError, /check dash.token/);
  assert.equal(dash.online("ccm_test"), false);
});
