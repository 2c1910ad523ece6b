import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import type { ResponseFrame } from "../rpc/frame.js";
import { MethodRegistry } from "../rpc/registry.js";
import { RpcServer } from "../rpc/server.js";
import { registerConfigMethods } from "./rpc-methods.js";
import { ConfigStore } from "./store.js";

/** An RPC server serving Config.* on a fresh store; `send` answers one frame. */
async function rig(t: TestContext) {
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-cfg-rpc-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const store = ConfigStore.open({ dataDir });
  const registry = new MethodRegistry();
  registerConfigMethods(registry, { store, mayReadSecrets: () => true, reboot: () => undefined });
  const server = new RpcServer(registry);
  const send = (params: unknown) =>
    new Promise<ResponseFrame>((resolve) => {
      server.handle({ id: 1, method: "Config.Set", params }, { channel: "UART" }, (r) => {
        resolve(r as ResponseFrame);
      });
    });
  return { store, send };
}

const cases: { what: string; config: unknown; message: RegExp }[] = [
  {
    what: "an unknown key",
    config: { wifi: { sta: { sid: "x" } } },
    message: /unknown config key: wifi\.sta\.sid$/,
  },
  { what: "a wrong type", config: { host: { baud: "fast" } }, message: /config host\.baud must be integer$/ },
  {
    what: "a number below its range",
    config: { host: { baud: 10 } },
    message: /config host\.baud must be >= 50$/,
  },
  {
    what: "a number above its range",
    config: { wifi: { ap: { channel: 15 } } },
    message: /config wifi\.ap\.channel must be <= 14$/,
  },
  {
    what: "a fraction for an integer",
    config: { mqtt: { keepalive: 1.5 } },
    message: /config mqtt\.keepalive must be integer$/,
  },
  {
    what: "a value outside an enum",
    config: { rpc: { auth_algo: "SHA1" } },
    message: /config rpc\.auth_algo must be one of "MD5", "SHA-256" \(got "SHA1"\)$/,
  },
  {
    what: "a wrong type for an enum",
    config: { wifi: { backend: 3 } },
    message: /config wifi\.backend must be one of "none", "nmcli" \(got 3\)$/,
  },
  {
    what: "null for a leaf",
    config: { wifi: { sta: { ssid: null } } },
    message: /config wifi\.sta\.ssid must be string$/,
  },
  { what: "null for a section", config: { mqtt: null }, message: /config mqtt must be object$/ },
  {
    what: "a section where a leaf is expected",
    config: { wifi: { sta: { ssid: { name: "home" } } } },
    message: /config wifi\.sta\.ssid must be string$/,
  },
  {
    what: "a leaf where a section is expected",
    config: { wifi: { sta: "home" } },
    message: /config wifi\.sta must be object$/,
  },
  {
    what: "an array where a section is expected",
    config: { wifi: [1] },
    message: /config wifi must be object$/,
  },
  { what: "a config that is not an object", config: "wifi", message: /config must be an object$/ },
  { what: "a null config", config: null, message: /config must be an object$/ },
];

test("every class of invalid Config.Set input is -32602 naming the path, and changes nothing", async (t) => {
  const { store, send } = await rig(t);
  const before = JSON.stringify(store.config);
  for (const c of cases) {
    const r = await send({ config: c.config });
    assert.equal(r.error?.code, -32602, `${c.what}: ${JSON.stringify(r)}`);
    assert.match(r.error.message ?? "", c.message, c.what);
  }
  const bad = await send({ config: { wifi: { sta: { ssid: "ok" } }, host: { baud: -1 } } });
  assert.match(
    bad.error?.message ?? "",
    /config host\.baud must be >= 50$/,
    "one bad key refuses the whole Set",
  );
  assert.equal(JSON.stringify(store.config), before);
  assert.equal(store.unsaved, false);
});

test("Config.Set with key takes the value at that key and checks it the same way", async (t) => {
  const { store, send } = await rig(t);
  const r = await send({ key: "provision.led.pin", value: 2000 });
  assert.equal(r.error?.code, -32602);
  assert.match(r.error.message ?? "", /config provision\.led\.pin must be <= 1023$/);
  const ok = await send({ key: "provision.led.pin", value: 17 });
  assert.deepEqual(ok.result, { saved: false, reboot_required: true });
  assert.equal(store.config.provision.led.pin, 17);
});
