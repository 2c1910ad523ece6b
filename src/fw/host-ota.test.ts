import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { CcmError, isCcmError } from "../errors.js";
import { silentLogger } from "../log/logger.js";
import { MethodRegistry } from "../rpc/registry.js";
import { registerBootMethods, unsupervised } from "./boot-control.js";
import { HostOta, type SelfUpdater, type VerifiedImage } from "./host-ota.js";

/**
 * The service's own state machine, with a stand-in bundle format (JSON `{version, ccm?}`; `"bad"`
 * fails verification; `ccm: true` makes a CCM-only bundle) and an apply step that plays what each
 * version is told to do. The real bundle reader, STM32 flasher and supervisor are exercised end to
 * end in test/integration.
 */
function verify(zip: Buffer): VerifiedImage {
  const doc = JSON.parse(zip.toString()) as { version: string; ccm?: boolean };
  if (doc.version === "bad") throw new CcmError("BAD_ARGUMENT", "checksum mismatch in part host_fw");
  const part =
    doc.ccm === true ? { name: "ccm", type: "ccm" } : { name: "host_fw", type: "STM32", addr: 0x0800_0000 };
  return { version: doc.version, parts: [{ ...part, data: zip }], source: zip };
}

/**
 * What one apply of a version does: `ok`; `refused` before touching the host (an image that does not
 * fit, a bootloader that does not answer); `cut` short mid-write (the host unplugged); `silent`:
 * flashed and verified, but the host does not answer.
 */
type Outcome = "ok" | "refused" | "cut" | "silent";

interface Rig {
  ota: HostOta;
  registry: MethodRegistry;
  applied: string[];
  reports: Record<string, unknown>[];
  dir: string;
  call: (method: string, params?: unknown) => Promise<unknown>;
  status: () => Promise<Record<string, unknown>>;
  marker: () => Record<string, unknown>;
  switches: string[];
}

async function rig(
  t: TestContext,
  o: {
    dir?: string;
    outcomes?: Record<string, Outcome[]>;
    pollUrl?: string;
    start?: boolean;
    self?: Partial<SelfUpdater>;
  } = {},
): Promise<Rig> {
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), "ccm-ota-")));
  if (o.dir === undefined) t.after(() => rm(dir, { recursive: true, force: true }));
  const registry = new MethodRegistry();
  const applied: string[] = [];
  const reports: Record<string, unknown>[] = [];
  const switches: string[] = [];
  let host: string | undefined = "0.9";
  const ota = new HostOta({
    dir,
    registry,
    verify,
    apply: async (image, hooks) => {
      applied.push(image.version);
      const outcome = o.outcomes?.[image.version]?.shift() ?? "ok";
      if (outcome === "refused")
        throw new CcmError("BAD_ARGUMENT", "address 0x08000100 is not page-aligned", {
          data: { step: "check" },
        });
      hooks.touched();
      host = undefined;
      hooks.progress({ step: "write", done: 50, total: 100 });
      await new Promise((r) => setTimeout(r, 5));
      if (outcome === "cut")
        throw new CcmError("FLASH_FAILED", "flashing failed at step write: the port closed");
      hooks.flashed();
      if (outcome === "silent") throw new CcmError("OTA_FAILED", "the host did not answer Sys.Info");
      host = image.version;
      return { fw_version: image.version };
    },
    self: {
      check: () => undefined,
      stage: (bundle) => ({ slot: "a", version: verify(bundle).version }),
      switchNow: () => {
        switches.push("switch");
        return Promise.resolve();
      },
      unstage: () => undefined,
      ...o.self,
    },
    report: (s) => reports.push(s),
    hostVersion: () => host,
    logger: silentLogger,
    timeoutS: 60,
    maxSize: 4096,
    retryMs: { min: 20, max: 50 },
    ...(o.pollUrl === undefined ? {} : { pollUrl: o.pollUrl, pollIntervalS: 3600 }),
  });
  if (o.start !== false) ota.start();
  t.after(() => ota.stop());
  const call = (method: string, params?: unknown): Promise<unknown> =>
    Promise.resolve().then(() =>
      registry.get(method)!.handler(params ?? {}, { channel: "test", frame: { method } }),
    );
  const status = async () => (await call("OTA.Status")) as Record<string, unknown>;
  // Read without yielding to the event loop, so that no retry timer runs between reads.
  const marker = () => JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as Record<string, unknown>;
  return { ota, registry, applied, reports, dir, call, status, marker, switches };
}

async function push(r: Rig, body: string, chunk = 7, begin: Record<string, unknown> = {}): Promise<unknown> {
  const data = Buffer.from(body);
  await r.call("OTA.Begin", { size: data.length, ...begin });
  for (let off = 0; off < data.length; off += chunk)
    await r.call("OTA.Write", { offset: off, data: data.subarray(off, off + chunk).toString("base64") });
  return r.call("OTA.End");
}

/** Waits until the service is idle or failed with no flash under way or pending a retry soon. */
async function settled(
  r: Rig,
  done: (s: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  for (let i = 0; i < 1500; i++) {
    await r.ota.applying;
    const s = await r.status();
    if (done(s)) return s;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`not settled: ${JSON.stringify(await r.status())}`);
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

test("when the new image does not answer, the last good one is flashed back and the error says so", async (t) => {
  const r = await rig(t, { outcomes: { "2.0": ["silent"] } });
  await push(r, JSON.stringify({ version: "1.0" }));
  await r.ota.applying;
  await push(r, JSON.stringify({ version: "2.0" }));
  const s = await settled(r, (x) => x.state === 2);
  assert.deepEqual(r.applied, ["1.0", "2.0", "1.0"]);
  assert.match(s.message as string, /did not answer Sys\.Info; the previous image 1\.0 was flashed back/);
  assert.equal(s.host_fw_version, "1.0");
  assert.equal(r.marker().phase, "idle");
});

test("a failure before anything on the host was erased flashes nothing back and says the host was not changed", async (t) => {
  const r = await rig(t, { outcomes: { "2.0": ["refused"] } });
  await push(r, JSON.stringify({ version: "1.0" }));
  await r.ota.applying;
  await push(r, JSON.stringify({ version: "2.0" }));
  const s = await settled(r, (x) => x.state === 2);
  assert.deepEqual(r.applied, ["1.0", "2.0"], "the previous image is not flashed again");
  assert.match(s.message as string, /not page-aligned; nothing on the host was changed \(it runs 1\.0\)/);
  assert.equal(r.marker().phase, "idle");
  assert.equal(existsSync(join(r.dir, "staged.zip")), false);
  assert.equal(
    (JSON.parse(await readFile(join(r.dir, "current.zip"), "utf8")) as { version: string }).version,
    "1.0",
  );
});

test("a flash cut short stays pending and is done again, also while the host does not answer, until the host runs it", async (t) => {
  const r = await rig(t, { outcomes: { "2.0": ["cut", "refused", "refused", "ok"] } });
  await push(r, JSON.stringify({ version: "2.0" }));
  await r.ota.applying;
  let s = await r.status();
  assert.equal(s.state, 2);
  assert.match(s.message as string, /flashing 2\.0 was cut short \(.*the port closed\); it is flashed again/);
  assert.equal(s.pending, "2.0");
  const m = r.marker();
  assert.deepEqual([m.phase, m.image, m.touched], ["applying", "staged", true]);
  s = await settled(r, (x) => x.state === 0);
  assert.deepEqual(r.applied, ["2.0", "2.0", "2.0", "2.0"]);
  assert.match(s.message as string, /^host runs 2\.0 \(flashed again after: flashing 2\.0 was cut short/);
  assert.ok(
    r.reports.some((x) => /host does not answer yet .*trying again until it does/.test(x.message as string)),
    "while the host was away the status said it is waiting for it",
  );
  assert.equal(s.host_fw_version, "2.0");
  assert.equal(r.marker().phase, "idle");
});

test("a new image cut short three times gives way to the previous image", async (t) => {
  const r = await rig(t, { outcomes: { "2.0": ["cut", "cut", "cut"] } });
  await push(r, JSON.stringify({ version: "1.0" }));
  await r.ota.applying;
  await push(r, JSON.stringify({ version: "2.0" }));
  const s = await settled(r, (x) => x.state === 2 && x.pending === undefined);
  assert.deepEqual(r.applied, ["1.0", "2.0", "2.0", "2.0", "1.0"]);
  assert.match(
    s.message as string,
    /flashing 2\.0 failed 3 times: .*; the previous image 1\.0 was flashed back/,
  );
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
  assert.equal(r.marker().phase, "idle");
  assert.match(
    (await r.status()).message as string,
    /flashed again after: the CCM stopped while applying it/,
  );
});

test("with commit_timeout the new image stays uncommitted: OTA.Commit keeps it, else the previous one is flashed back", async (t) => {
  const r = await rig(t);
  await push(r, JSON.stringify({ version: "1.0" }));
  await r.ota.applying;
  await push(r, JSON.stringify({ version: "2.0" }), 7, { commit_timeout: 30 });
  await r.ota.applying;
  let s = await r.status();
  assert.deepEqual([s.state, s.is_committed, s.host_fw_version], [0, false, "2.0"]);
  assert.match(s.message as string, /uncommitted: OTA\.Commit within 30 s keeps it/);
  await assert.rejects(
    push(r, JSON.stringify({ version: "2.1" })),
    /runs 2\.0 uncommitted: OTA\.Commit or OTA\.Revert first/,
  );
  assert.equal(r.ota.commit(), "2.0");
  assert.equal(
    (JSON.parse(await readFile(join(r.dir, "current.zip"), "utf8")) as { version: string }).version,
    "2.0",
  );
  assert.equal((await r.status()).is_committed, undefined);

  await push(r, JSON.stringify({ version: "3.0" }), 7, { commit_timeout: 1 });
  await r.ota.applying;
  assert.equal((await r.status()).host_fw_version, "3.0");
  s = await settled(r, (x) => x.state === 2);
  assert.deepEqual(r.applied, ["1.0", "2.0", "3.0", "2.0"]);
  assert.match(
    s.message as string,
    /3\.0 was not committed within 1 s; the previous image 2\.0 was flashed back/,
  );
  assert.equal(r.marker().phase, "idle");
});

test("OTA.Commit and OTA.Revert reach an uncommitted host image, also in a CCM no supervisor runs", async (t) => {
  const r = await rig(t);
  registerBootMethods(r.registry, unsupervised, r.ota);
  await push(r, JSON.stringify({ version: "1.0" }));
  await r.ota.applying;
  await push(r, JSON.stringify({ version: "2.0" }), 7, { commit_timeout: 60 });
  await r.ota.applying;
  const committed = (await r.call("OTA.Commit")) as Record<string, unknown>;
  assert.deepEqual([committed.host_committed, committed.is_committed], ["2.0", true]);
  assert.equal((await r.status()).is_committed, undefined);
  await assert.rejects(r.call("OTA.Revert"), /nothing to revert: no supervisor runs this CCM/);

  await push(r, JSON.stringify({ version: "3.0" }), 7, { commit_timeout: 60 });
  await r.ota.applying;
  assert.equal(await r.call("OTA.Revert"), true);
  const s = await settled(r, (x) => x.state === 2);
  assert.match(s.message as string, /^OTA\.Revert; the previous image 2\.0 was flashed back/);
  assert.deepEqual(r.applied, ["1.0", "2.0", "3.0", "2.0"]);
});

test("a CCM-only bundle goes to the supervisor with the host's bookkeeping done first, and never becomes the host's previous image", async (t) => {
  const markers: unknown[] = [];
  const r: Rig = await rig(t, {
    outcomes: { "2.0": ["silent"] },
    self: {
      switchNow: () => {
        r.switches.push("switch");
        markers.push(r.marker(), existsSync(join(r.dir, "staged.zip")));
        return Promise.resolve();
      },
    },
  });
  await push(r, JSON.stringify({ version: "1.0" }));
  await r.ota.applying;
  assert.deepEqual(await push(r, JSON.stringify({ version: "ccm-5", ccm: true })), {
    staged: true,
    version: "ccm-5",
    parts: ["ccm"],
    ccm_restarts: true,
  });
  await r.ota.applying;
  assert.deepEqual(r.switches, ["switch"]);
  assert.deepEqual(markers, [{ phase: "idle" }, false], "nothing to resume at the next start");
  assert.match((await r.status()).message as string, /switching to ccm ccm-5 in slot a: the CCM restarts/);
  assert.deepEqual(r.applied, ["1.0"], "the host is not flashed for a CCM update");
  // The supervisor now restarts the CCM; there, a host update that fails flashes the host's own
  // previous image back.
  await r.ota.stop();
  const after = await rig(t, { dir: r.dir, outcomes: { "2.0": ["silent"] } });
  await push(after, JSON.stringify({ version: "2.0" }));
  const s = await settled(after, (x) => x.state === 2);
  assert.match(s.message as string, /the previous image 1\.0 was flashed back/);
  assert.deepEqual(after.applied, ["2.0", "1.0"]);
});

test("a CCM bundle the CCM cannot take (no supervisor) is refused at OTA.End, touching nothing; a failed switch unstages it", async (t) => {
  const unstaged: string[] = [];
  const r = await rig(t, {
    self: {
      check: () => {
        throw new CcmError("UPDATE_FAILED", "this CCM was not started by `ccm supervise`");
      },
    },
  });
  await assert.rejects(
    push(r, JSON.stringify({ version: "ccm-5", ccm: true })),
    /not started by `ccm supervise`/,
  );
  assert.deepEqual(r.applied, []);
  assert.equal(existsSync(join(r.dir, "staged.zip")), false);
  assert.equal(existsSync(join(r.dir, "incoming.zip")), false);
  assert.equal(existsSync(join(r.dir, "state.json")), false);

  const s = await rig(t, {
    self: {
      switchNow: () => Promise.reject(new CcmError("UPDATE_FAILED", "the supervisor did not answer switch")),
      unstage: () => unstaged.push("unstaged"),
    },
  });
  await push(s, JSON.stringify({ version: "ccm-6", ccm: true }));
  await s.ota.applying;
  assert.match(
    (await s.status()).message as string,
    /the supervisor did not switch to ccm ccm-6: .*did not answer/,
  );
  assert.deepEqual(unstaged, ["unstaged"]);
  assert.deepEqual(s.applied, []);
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
