import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { CcmError, isCcmError } from "../errors.js";
import { silentLogger } from "../log/logger.js";
import { MethodRegistry } from "../rpc/registry.js";
import { HostOta, type VerifiedImage } from "./host-ota.js";

/**
 * The service's own state machine, with a stand-in bundle format (JSON `{version}`; `"bad"` fails
 * verification) and an apply step that records what it was given. The real bundle reader and
 * STM32 flasher are exercised end to end in test/integration.
 */
function verify(zip: Buffer): VerifiedImage {
  const doc = JSON.parse(zip.toString()) as { version: string };
  if (doc.version === "bad") throw new CcmError("BAD_ARGUMENT", "checksum mismatch in part host_fw");
  return { version: doc.version, parts: [{ name: "host_fw", type: "STM32", addr: 0x0800_0000, data: zip }] };
}

interface Rig {
  ota: HostOta;
  registry: MethodRegistry;
  applied: string[];
  reports: Record<string, unknown>[];
  dir: string;
  call: (method: string, params?: unknown) => Promise<unknown>;
}

async function rig(
  t: TestContext,
  o: { dir?: string; failing?: Set<string>; pollUrl?: string; start?: boolean } = {},
): Promise<Rig> {
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), "ccm-ota-")));
  if (o.dir === undefined) t.after(() => rm(dir, { recursive: true, force: true }));
  const registry = new MethodRegistry();
  const applied: string[] = [];
  const reports: Record<string, unknown>[] = [];
  let host: string | undefined = "0.9";
  const ota = new HostOta({
    dir,
    registry,
    verify,
    apply: async (image, progress) => {
      applied.push(image.version);
      progress({ step: "write", done: 50, total: 100 });
      await new Promise((r) => setTimeout(r, 5));
      if (o.failing?.has(image.version))
        throw new CcmError("OTA_FAILED", "flashing failed at step write: NACK");
      host = image.version;
      return { fw_version: image.version };
    },
    report: (s) => reports.push(s),
    hostVersion: () => host,
    logger: silentLogger,
    timeoutS: 60,
    maxSize: 4096,
    ...(o.pollUrl === undefined ? {} : { pollUrl: o.pollUrl, pollIntervalS: 3600 }),
  });
  if (o.start !== false) ota.start();
  t.after(() => ota.stop());
  const call = (method: string, params?: unknown): Promise<unknown> =>
    Promise.resolve().then(() =>
      registry.get(method)!.handler(params ?? {}, { channel: "test", frame: { method } }),
    );
  return { ota, registry, applied, reports, dir, call };
}

async function push(r: Rig, body: string, chunk = 7): Promise<unknown> {
  const data = Buffer.from(body);
  await r.call("OTA.Begin", { size: data.length });
  for (let off = 0; off < data.length; off += chunk)
    await r.call("OTA.Write", { offset: off, data: data.subarray(off, off + chunk).toString("base64") });
  return r.call("OTA.End");
}

test("a bundle written in chunks, one of them twice, is verified, staged and applied; OTA.Status follows", async (t) => {
  const r = await rig(t);
  const data = Buffer.from(JSON.stringify({ version: "1.1", pad: "x".repeat(40) }));
  await r.call("OTA.Begin", { size: data.length });
  await r.call("OTA.Write", { offset: 0, data: data.subarray(0, 20).toString("base64") });
  // mos retries a chunk whose answer was lost: the same offset again is harmless.
  await r.call("OTA.Write", { offset: 0, data: data.subarray(0, 20).toString("base64") });
  await r.call("OTA.Write", { offset: 20, data: data.subarray(20).toString("base64") });
  assert.deepEqual(await r.call("OTA.End"), { staged: true, version: "1.1", parts: ["host_fw"] });
  await r.ota.applying;
  assert.deepEqual(r.applied, ["1.1"]);
  const status = (await r.call("OTA.Status")) as Record<string, unknown>;
  assert.deepEqual([status.state, status.host_fw_version], [0, "1.1"]);
  assert.ok(
    r.reports.some((s) => s.state === 3 && (s.progress as { done: number } | undefined)?.done === 50),
  );
  assert.ok(existsSync(join(r.dir, "current.zip")));
});

test("a gap, an overrun, a short bundle and a bad bundle are refused with clear errors, and nothing is applied", async (t) => {
  const r = await rig(t);
  await r.call("OTA.Begin", { size: 10 });
  await assert.rejects(r.call("OTA.Write", { offset: 4, data: "AAAA" }), /offset 4 is past the 0 bytes/);
  await assert.rejects(
    r.call("OTA.Write", { offset: 0, data: Buffer.alloc(11).toString("base64") }),
    /more than the 10/,
  );
  await r.call("OTA.Write", { offset: 0, data: Buffer.alloc(5).toString("base64") });
  await assert.rejects(r.call("OTA.End"), /received 5 of 10 bytes/);
  assert.equal(((await r.call("OTA.Status")) as { state: number }).state, 2);
  await assert.rejects(
    push(r, JSON.stringify({ version: "bad" })),
    /refused: checksum mismatch in part host_fw/,
  );
  await assert.rejects(r.call("OTA.Begin", { size: 5000 }), (e) => isCcmError(e) && e.rpcCode === 413);
  assert.deepEqual(r.applied, []);
});

test("a second update while one is under way is refused as mos expects", async (t) => {
  const r = await rig(t);
  await r.call("OTA.Begin", { size: 10 });
  await assert.rejects(r.call("OTA.Begin", { size: 10 }), /already in progress \(1\), call OTA\.End/);
});

test("when the new image fails, the last good one is flashed back and the error says so", async (t) => {
  const r = await rig(t, { failing: new Set(["2.0"]) });
  await push(r, JSON.stringify({ version: "1.0" }));
  await r.ota.applying;
  await push(r, JSON.stringify({ version: "2.0" }));
  await r.ota.applying;
  assert.deepEqual(r.applied, ["1.0", "2.0", "1.0"]);
  const s = (await r.call("OTA.Status")) as { state: number; message: string; host_fw_version: string };
  assert.equal(s.state, 2);
  assert.match(s.message, /NACK; the previous image 1\.0 was flashed back/);
  assert.equal(s.host_fw_version, "1.0");
});

test("an update interrupted by a CCM restart is applied again when the CCM starts", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ccm-ota-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "staged.zip"), JSON.stringify({ version: "3.0" }));
  await writeFile(join(dir, "state.json"), JSON.stringify({ phase: "applying", version: "3.0" }));
  const r = await rig(t, { dir });
  await r.ota.applying;
  assert.deepEqual(r.applied, ["3.0"]);
  assert.equal(
    (JSON.parse(await readFile(join(dir, "state.json"), "utf8")) as { phase: string }).phase,
    "idle",
  );
});

test("OTA.Update downloads over HTTP; the shadow's desired ota and a polled version document start it too", async (t) => {
  const files: Record<string, string> = {
    "/fw-1.5.zip": JSON.stringify({ version: "1.5" }),
    "/fw-1.6.zip": JSON.stringify({ version: "1.6" }),
    "/latest.json": JSON.stringify({ version: "1.6", url: "fw-1.6.zip" }),
  };
  const server = createServer((req, res) => {
    const body = files[req.url ?? ""];
    if (body === undefined) res.writeHead(404).end();
    else res.writeHead(200, { "Content-Length": Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const r = await rig(t, { pollUrl: `${base}/latest.json`, start: false });
  await assert.rejects(r.call("OTA.Update", { url: `${base}/missing.zip` }), /HTTP 404/);
  await r.call("OTA.Update", { url: `${base}/fw-1.5.zip` });
  await r.ota.applying;
  // The shadow's desired ota starts an update; the rest of the delta goes on to the host.
  assert.deepEqual(r.ota.shadowDelta({ on: true, ota: { url: `${base}/fw-1.5.zip`, version: "1.5" } }), {
    on: true,
  });
  assert.deepEqual(r.applied, ["1.5"], "the host already runs 1.5: nothing to do");
  await r.ota.poll();
  await new Promise((resolve) => setTimeout(resolve, 100));
  await r.ota.applying;
  assert.deepEqual(r.applied, ["1.5", "1.6"]);
});
