import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { connectRpc } from "../../src/channels/client/connect.js";
import { until } from "../helpers/daemon.js";
import { remoteRig } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";

type Call = (method: string, params?: unknown) => Promise<unknown>;

/** A CCM with a simulated host, and callers on the host UART, the management UART, HTTP and WebSocket. */
async function rig(t: TestContext) {
  const mgmt = await ptyPair(t);
  const { daemon, sim, url } = await remoteRig(t, { rpc: { uart: { port: mgmt.a } } });
  await until(() => daemon.rpcUart?.link.isUp === true, "the management UART up");
  const o = { timeoutMs: 10_000, baudRate: 115200 };
  const uart = await connectRpc(mgmt.b, o);
  const http = await connectRpc(`${url}/rpc`, o);
  const ws = await connectRpc(`${url.replace("http", "ws")}/rpc`, o);
  t.after(async () => {
    for (const c of [uart, http, ws]) await c.close();
  });
  const callers: Record<string, Call> = {
    host: (m, p) => sim.call(m, p, 10_000),
    uart: (m, p) => uart.call(m, p),
    http: (m, p) => http.call(m, p),
    ws: (m, p) => ws.call(m, p),
  };
  const store = daemon.configServices.store;
  const saved = async () =>
    JSON.parse(await readFile(join(store.dataDir, "config.json"), "utf8")) as Record<
      string,
      Record<string, unknown>
    >;
  return { callers, store, saved };
}

/** Each caller sends `n` Config.Set with save one after the other; the callers race each other. */
function race(callers: Record<string, Call>, n: number, config: (name: string, i: number) => object) {
  return Promise.all(
    Object.entries(callers).map(async ([name, call]) => {
      for (let i = 0; i < n; i++) {
        const r = (await call("Config.Set", { config: config(name, i), save: true })) as { saved: boolean };
        assert.equal(r.saved, true);
      }
    }),
  );
}

test("concurrent Config.Set with save from both UARTs, HTTP and WebSocket on different keys loses no update", async (t) => {
  const { callers, store, saved } = await rig(t);
  const keyOf: Record<string, [string, string]> = {
    host: ["aws", "thing_name"],
    uart: ["aws", "region"],
    http: ["azure", "host_name"],
    ws: ["mqtt", "client_id"],
  };
  const n = 12;
  await race(callers, n, (name, i) => {
    const [section, key] = keyOf[name]!;
    return { [section]: { [key]: `${name}-${i}` } };
  });
  const file = await saved();
  for (const [name, [section, key]] of Object.entries(keyOf)) {
    const running = (store.config as unknown as Record<string, Record<string, unknown>>)[section]![key];
    assert.equal(running, `${name}-${n - 1}`, `${name}'s last Set is in the running config`);
    assert.equal(file[section]![key], `${name}-${n - 1}`, `${name}'s last Set is in the saved file`);
  }
});

test("concurrent Config.Set of the same keys: the last one applied wins, each Set whole, the saved file one Set's state", async (t) => {
  const { callers, store, saved } = await rig(t);
  // Every state the running config passes through, in the order the CCM applied the Sets.
  const applied: string[] = [];
  store.on("change", () => {
    const { ssid, pass } = store.config.wifi.sta;
    applied.push(`${ssid}|${pass}`);
  });
  const n = 12;
  await race(callers, n, (name, i) => ({
    wifi: { sta: { ssid: `${name}-${i}`, pass: `pass-${name}-${i}` } },
  }));
  assert.equal(applied.length, 4 * n, "every Set was applied, each once");
  for (const state of applied) {
    const [ssid, pass] = state.split("|");
    assert.equal(pass, `pass-${ssid}`, `never half of one Set and half of another: ${state}`);
  }
  const { ssid, pass } = store.config.wifi.sta;
  assert.equal(`${ssid}|${pass}`, applied.at(-1), "the last Set applied is the running config");
  assert.match(ssid, new RegExp(`^(host|uart|http|ws)-${n - 1}$`), "and it is some caller's last Set");
  const file = (await saved()).wifi!.sta as { ssid: string; pass: string };
  assert.deepEqual(file, { ssid, pass }, "the saved file holds that same Set, whole");
});
