/**
 * The whole over-the-air path: `ccm ota fw.zip` over HTTP to a CCM whose host is an emulated STM32
 * (application + ROM bootloader on one pty, RST/BOOT0 through `sim` lines) until the host's
 * Sys.Info reports the new fw_version.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { createBundle } from "../../src/fw/bundle.js";
import { makeFirmwareImage } from "../../src/sim/stm32/image.js";
import { runCli } from "../helpers/cli.js";
import { startDaemon, until } from "../helpers/daemon.js";
import { tempDir } from "../helpers/remote.js";
import { startEmulator } from "../helpers/stm32.js";

async function rig(t: TestContext) {
  const emu = await startEmulator(t, {
    chip: 0x410,
    initialImage: makeFirmwareImage({ version: "1.0", size: 4096 }),
  });
  const daemon = await startDaemon(t, emu.port, { lines: emu.linesSpec, confirm_s: 10 });
  await until(() => daemon.host.info.sys_info?.fw_version === "1.0", "the host runs 1.0", 10_000);
  const dir = await tempDir(t);
  const bundle = async (
    version: string,
    o: { platform?: string; broken?: boolean } = {},
  ): Promise<string> => {
    const bin = join(dir, `fw-${version}.bin`);
    await writeFile(
      bin,
      makeFirmwareImage({
        version,
        size: 6000,
        seed: version.length,
        ...(o.broken === true ? { stackPointer: 0xffff_ffff } : {}),
      }),
    );
    const zip = join(dir, `fw-${version}.zip`);
    await writeFile(
      zip,
      createBundle({
        name: "fw",
        platform: o.platform ?? "ccm_host",
        version,
        parts: [{ name: "host_fw", type: "STM32", src: bin, addr: 0x0800_0000 }],
      }),
    );
    return zip;
  };
  return { emu, daemon, bundle, port: `${daemon.httpUrl ?? ""}/rpc` };
}

test("ccm ota sends a bundle over HTTP, the CCM flashes the host through its bootloader, and Sys.Info shows the new version", async (t) => {
  const { daemon, bundle, port, emu } = await rig(t);
  const r = await runCli(["--port", port, "ota", await bundle("2.0")], 60_000);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "2.0\n");
  assert.match(r.stderr, /verified and staged 2\.0/);
  assert.equal(daemon.host.info.sys_info?.fw_version, "2.0");
  assert.equal(emu.mcu.personality, "app");
  const status = await runCli(["--port", port, "--json", "call", "OTA.Status"]);
  assert.deepEqual(
    (({ state, host_fw_version }) => ({ state, host_fw_version }))(
      JSON.parse(status.stdout) as { state: number; host_fw_version: string },
    ),
    { state: 0, host_fw_version: "2.0" },
  );
});

test("a bundle for another platform is refused before the host is touched", async (t) => {
  const { daemon, bundle, port } = await rig(t);
  const r = await runCli(["--port", port, "ota", await bundle("2.0", { platform: "esp32" })], 60_000);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /platform "esp32"/);
  assert.equal(daemon.host.info.sys_info?.fw_version, "1.0");
});

test("a new image the host does not boot is replaced by the last good one, and the error says so", async (t) => {
  const { daemon, bundle, port } = await rig(t);
  assert.equal((await runCli(["--port", port, "ota", await bundle("2.0")], 60_000)).code, 0);
  const r = await runCli(["--port", port, "ota", await bundle("3.0", { broken: true })], 90_000);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /did not answer Sys\.Info with fw_version 3\.0.*the previous image 2\.0 was flashed back/,
  );
  await until(() => daemon.host.info.sys_info?.fw_version === "2.0", "the host back on 2.0", 10_000);
});

test("the shadow's desired ota {url, version} updates the host from an HTTP server and reported ota follows", async (t) => {
  const { daemon, bundle } = await rig(t);
  const zip = await readFile(await bundle("2.5"));
  const server = createServer((_req, res) => {
    res.writeHead(200, { "Content-Length": zip.length }).end(zip);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fw.zip`;
  const call = (method: string, params?: unknown) =>
    Promise.resolve(daemon.registry.get(method)!.handler(params, { channel: "test", frame: { method } }));
  await call("Shadow.Update", { state: { desired: { ota: { url, version: "2.5" } } } });
  await until(() => daemon.host.info.sys_info?.fw_version === "2.5", "the host runs 2.5", 30_000);
  type Doc = {
    state: { reported?: { ota?: { state: number; version?: string } }; delta?: { ota?: unknown } };
  };
  let doc = (await call("Shadow.Get")) as Doc;
  for (let i = 0; i < 100 && doc.state.reported?.ota?.state !== 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    doc = (await call("Shadow.Get")) as Doc;
  }
  assert.equal(doc.state.reported?.ota?.state, 0, JSON.stringify(doc.state));
  assert.equal(doc.state.reported.ota.version, "2.5");
  assert.equal(doc.state.delta?.ota, undefined, "desired ota is met: no delta left");
});
