import assert from "node:assert/strict";
import { execFile, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { generateKeyPairSync } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { createBundle } from "../../src/fw/bundle.js";
import { loadState, saveState, stageSelfUpdate } from "../../src/fw/slots.js";
import { isCcmError } from "../../src/errors.js";
import { runCli, spawnCli } from "../helpers/cli.js";
import { until } from "../helpers/daemon.js";
import { otaRig } from "../helpers/ota.js";
import { tempDir } from "../helpers/remote.js";
import { freePort } from "../helpers/socat.js";

const exec = promisify(execFile);
const repo = fileURLToPath(new URL("../../", import.meta.url));

/**
 * A bundle whose type=ccm part is a .tgz of an "installed ccm": `good` runs this checkout's ccm (through
 * tsx, as the test suite does), `crash` is a version whose entry point exits 1 at once.
 */
async function ccmBundle(dir: string, kind: "good" | "crash", version: string): Promise<string> {
  const root = join(dir, `${kind}-${version}`);
  await mkdir(join(root, "dist", "cli"), { recursive: true });
  await writeFile(join(root, "package.json"), JSON.stringify({ name: "ccm", version, type: "module" }));
  const tsx = pathToFileURL(join(repo, "node_modules/tsx/dist/esm/api/index.mjs")).href;
  const main = pathToFileURL(join(repo, "src/cli/main.ts")).href;
  await writeFile(
    join(root, "dist", "cli", "main.js"),
    kind === "good"
      ? `import { register } from ${JSON.stringify(tsx)};\nregister();\nawait import(${JSON.stringify(main)});\n`
      : `console.error("ccm ${version}: broken build");\nprocess.exit(1);\n`,
  );
  const tgz = join(dir, `${kind}-${version}.tgz`);
  await exec("tar", ["czf", tgz, "-C", root, "package.json", "dist"]);
  const zip = join(dir, `${kind}-${version}.zip`);
  await writeFile(
    zip,
    createBundle({ name: "ccm", platform: "ccm", version, parts: [{ name: "ccm", type: "ccm", src: tgz }] }),
  );
  return zip;
}

interface Supervised {
  dataDir: string;
  dir: string;
  child: ChildProcess;
  log: () => string;
  /** The HTTP RPC URL of the n-th CCM started (1-based), or of the last once n have started. */
  url: (n: number, which?: "nth" | "last") => Promise<string>;
  /** Waits until the log has `n` lines matching `re`. */
  waitLog: (re: RegExp, n: number) => Promise<void>;
  call: (url: string, method: string) => Promise<Record<string, unknown>>;
}

/** `ccm supervise` with `startArgs` for its CCM (default: HTTP on a free port each start). */
async function supervise(
  t: TestContext,
  startArgs: string[] = ["--http-listen", "127.0.0.1:0"],
): Promise<Supervised> {
  const dir = await mkdtemp(join(tmpdir(), "ccm-selfupd-"));
  const dataDir = join(dir, "data");
  const child = spawnCli(["supervise", "--data-dir", dataDir, "--", ...startArgs, "--set", "host.ping_ms=0"]);
  let log = "";
  child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  t.after(async () => {
    if (child.exitCode === null) {
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  });
  const url = async (n: number, which: "nth" | "last" = "nth"): Promise<string> => {
    const find = () => [...log.matchAll(/RPC over HTTP and WebSocket on (http:\/\/127\.0\.0\.1:\d+)\/rpc/g)];
    await until(() => find().length >= n, `CCM start #${n}`, 90_000);
    const all = find();
    return (which === "last" ? all.at(-1) : all[n - 1])![1]!;
  };
  const waitLog = (re: RegExp, n: number): Promise<void> =>
    until(() => [...log.matchAll(new RegExp(re, "g"))].length >= n, `${n} × ${re.source} in the log`, 90_000);
  const call = async (u: string, method: string) =>
    (await (await fetch(`${u}/rpc/${method}`)).json()) as Record<string, unknown>;
  return { dataDir, dir, child, log: () => log, url, waitLog, call };
}

test("a new CCM version boots uncommitted and OTA.Commit keeps it; a crashing version after it rolls back to it", async (t) => {
  const s = await supervise(t);
  const base = await s.call(await s.url(1), "OTA.GetBootState");
  assert.deepEqual([base.supervised, base.active_slot, base.is_committed], [true, "base", true]);

  const good = await ccmBundle(s.dir, "good", "2.0.0");
  const staged = await runCli(["self-update", "--data-dir", s.dataDir, "--commit-timeout", "120s", good]);
  assert.equal(staged.code, 0, staged.stderr);
  assert.match(staged.stdout, /staged ccm 2\.0\.0 in slot a\nsupervisor \d+ is switching to it, uncommitted/);
  const second = await s.url(2);
  const boot = await s.call(second, "OTA.GetBootState");
  assert.deepEqual(
    [boot.active_slot, boot.is_committed, boot.revert_slot, boot.commit_timeout, boot.version],
    ["a", false, "base", 120, "2.0.0"],
  );
  const committed = await s.call(second, "OTA.Commit");
  assert.deepEqual([committed.active_slot, committed.is_committed], ["a", true]);
  assert.deepEqual([loadState(s.dataDir).active, loadState(s.dataDir).committed], ["a", true]);
  const noRevert = await fetch(`${second}/rpc/OTA.Revert`);
  assert.match(await noRevert.text(), /nothing to revert: the running version is committed/);

  const crash = await ccmBundle(s.dir, "crash", "3.0.0-broken");
  const bad = await runCli(["self-update", "--data-dir", s.dataDir, "--boot-attempts", "2", crash]);
  assert.equal(bad.code, 0, bad.stderr);
  assert.match(bad.stdout, /in slot b/);
  const third = await s.url(3);
  const after = await s.call(third, "OTA.GetBootState");
  assert.deepEqual([after.active_slot, after.is_committed, after.version], ["a", true, "2.0.0"]);
  const revert = after.last_revert as { from: string; to: string; reason: string };
  assert.deepEqual([revert.from, revert.to], ["b", "a"]);
  assert.match(revert.reason, /exited \(exit code 1\) 2 times/);
  assert.equal(s.log().match(/broken build/g)?.length, 2, "the broken version was started twice");
});

test("an update not committed within commit_timeout is reverted; with commit_timeout 0 a healthy one commits itself", async (t) => {
  const s = await supervise(t);
  await s.url(1);
  const good = await ccmBundle(s.dir, "good", "2.1.0");
  const r = await runCli(["self-update", "--data-dir", s.dataDir, "--commit-timeout", "3s", good]);
  assert.equal(r.code, 0, r.stderr);
  // Waits on the supervisor's log, not on the new CCM's answers: a slow start may outlast the timeout.
  await s.waitLog(/started ccm from slot a, pid \d+ \(uncommitted, start 1 of 3\)/, 1);
  await s.waitLog(/reverted from slot a to base: it was not committed within 3 s/, 1);
  await s.waitLog(/slot base started/, 2);
  const back = await s.call(await s.url(1, "last"), "OTA.GetBootState");
  assert.deepEqual([back.active_slot, back.is_committed], ["base", true]);
  assert.match((back.last_revert as { reason: string }).reason, /not committed within 3 s/);

  const again = await runCli([
    "self-update",
    "--data-dir",
    s.dataDir,
    "--commit-timeout",
    "0",
    "--healthy-after",
    "1s",
    good,
  ]);
  assert.equal(again.code, 0, again.stderr);
  await s.waitLog(/slot a committed: it ran healthily for 1 s/, 1);
  assert.deepEqual([loadState(s.dataDir).active, loadState(s.dataDir).committed], ["a", true]);
  // SIGTERM stops the supervisor and its CCM, and removes the pid file.
  const gone = new Promise<number | null>((resolve) => s.child.once("exit", resolve));
  s.child.kill("SIGTERM");
  assert.equal(await gone, 0);
  await assert.rejects(readFile(join(s.dataDir, "slots", "supervisor.pid")), /ENOENT/);
});

test("staging refuses an unsigned bundle when keys are trusted, a bundle without a ccm part, and a second update before the first is committed", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ccm-stage-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const dataDir = join(dir, "data");
  const good = await readFile(await ccmBundle(dir, "good", "2.0.0"));
  const key = generateKeyPairSync("ed25519");
  assert.throws(
    () => stageSelfUpdate(dataDir, good, { commitTimeout: 0, trustedKeys: [key.publicKey] }),
    (e: unknown) => isCcmError(e, "BUNDLE_UNTRUSTED"),
  );
  await writeFile(join(dir, "fw.bin"), "x");
  const hostOnly = createBundle({
    name: "fw",
    platform: "ccm_host",
    parts: [{ name: "host_fw", type: "STM32", src: join(dir, "fw.bin") }],
  });
  assert.throws(
    () => stageSelfUpdate(dataDir, hostOnly, { commitTimeout: 0 }),
    /exactly one part of type=ccm/,
  );
  assert.equal(stageSelfUpdate(dataDir, good, { commitTimeout: 0 }).slot, "a");
  const state = loadState(dataDir);
  // What the supervisor does when it boots a staged update:
  saveState(dataDir, { ...state, active: "a", committed: false, revert: "base" });
  assert.throws(() => stageSelfUpdate(dataDir, good, { commitTimeout: 0 }), /uncommitted update; commit/);
});

test("a supervised CCM sent a type=ccm bundle by ccm ota comes up on the new version, uncommitted for --commit-timeout, and OTA.Commit keeps it", async (t) => {
  const http = await freePort();
  const s = await supervise(t, ["--http-listen", `127.0.0.1:${http}`]);
  const url = await s.url(1);
  const good = await ccmBundle(s.dir, "good", "2.0.0");
  const r = await runCli(["--port", `${url}/rpc`, "ota", "--commit-timeout", "120", good], 120_000);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "2.0.0\n");
  assert.match(r.stderr, /done: ccm 2\.0\.0 runs in slot a, uncommitted: OTA\.Commit within 120 s keeps it/);
  await s.url(2);
  // The switch left nothing to do again: no host image, no marker, no second staging.
  for (const f of ["ota/staged.zip", "ota/current.zip", "ota/state.json", "slots/pending.json"])
    assert.equal(existsSync(join(s.dataDir, f)), false, f);
  const status = await s.call(url, "OTA.Status");
  assert.equal(status.state, 0, JSON.stringify(status));
  const committed = await s.call(url, "OTA.Commit");
  assert.deepEqual([committed.active_slot, committed.is_committed, committed.version], ["a", true, "2.0.0"]);
  assert.equal(s.log().match(/CCM update staged/g)?.length, 1, "staged once");
});

test("a crashing CCM version sent by ccm ota is rolled back to the running one, and ccm ota says why", async (t) => {
  const http = await freePort();
  const s = await supervise(t, ["--http-listen", `127.0.0.1:${http}`, "--set", "ota.boot_attempts=2"]);
  const url = await s.url(1);
  const crash = await ccmBundle(s.dir, "crash", "3.0.0-broken");
  const r = await runCli(["--port", `${url}/rpc`, "ota", crash], 120_000);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the CCM went back from slot a to base: it exited \(exit code 1\) 2 times/);
  const boot = await s.call(await s.url(2), "OTA.GetBootState");
  assert.deepEqual([boot.active_slot, boot.is_committed], ["base", true]);
});

test("a CCM no supervisor runs refuses a type=ccm bundle from ccm ota with a clear error, touching neither its host nor its slots", async (t) => {
  const dataDir = join(await tempDir(t), "data");
  const { daemon, emu, port, dir } = await otaRig(t, { dataDir });
  let bootloader = 0;
  emu.mcu.on("personality", (p) => {
    if (p === "bootloader") bootloader++;
  });
  const r = await runCli(["--port", port, "ota", await ccmBundle(dir, "good", "2.0.0")], 60_000);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /a CCM update needs the supervisor: this CCM was not started by `ccm supervise`/);
  assert.equal(bootloader, 0, "the host was not reset into its bootloader");
  assert.equal(daemon.host.info.sys_info?.fw_version, "1.0");
  for (const f of ["slots/pending.json", "slots/a", "ota/staged.zip", "ota/incoming.zip", "ota/current.zip"])
    assert.equal(existsSync(join(dataDir, f)), false, f);
});
