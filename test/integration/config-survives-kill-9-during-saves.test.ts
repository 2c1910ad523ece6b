import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ConfigStore } from "../../src/config/store.js";
import { createLogger } from "../../src/log/logger.js";
import { spawnCli } from "../helpers/cli.js";
import { until } from "../helpers/daemon.js";

const saver = fileURLToPath(new URL("../helpers/config-saver.ts", import.meta.url));

/**
 * Starts the saver on `dir`, kills it with SIGKILL `afterMs` after its first completed save, and
 * resolves, once its output is all read, with the last save it reported complete.
 */
function saveThenKill(dir: string, afterMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", saver, dir], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.once("data", () => setTimeout(() => child.kill("SIGKILL"), afterMs));
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.once("error", reject);
    child.once("close", (_code, signal) => {
      if (signal !== "SIGKILL") {
        reject(new Error(`saver ended on its own (${String(signal)})`));
        return;
      }
      const done = [...out.matchAll(/^saved (\d+)$/gm)].map((m) => Number(m[1]));
      if (done.length === 0) reject(new Error("no save completed before the kill"));
      else resolve(done.at(-1)!);
    });
  });
}

test("kill -9 during saves, again and again, never leaves a config the CCM cannot start with", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ccm-kill-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let before = 0;
  for (let round = 0; round < 6; round++) {
    const reported = await saveThenKill(dir, 5 + round * 13);
    const warnings: string[] = [];
    const store = ConfigStore.open({ dataDir: dir, logger: createLogger(1, (l) => warnings.push(l)) });
    const { ssid, pass } = store.config.wifi.sta;
    const n = Number(/^net-(\d+)$/.exec(ssid)?.[1]);
    // A completed save is never lost; at most the one in flight when the kill came landed too.
    assert.ok(
      n === reported || n === reported + 1,
      `round ${round}: saved ${ssid}, last reported ${reported}`,
    );
    assert.ok(n > before, `round ${round}: this round's saves (from ${before + 1}) are on disk`);
    assert.equal(pass.length, 1000 + (n % 500), `round ${round}: ssid and pass come from the same save`);
    assert.deepEqual(warnings, [], `round ${round}: the current file was whole, no fallback`);
    before = n;
  }

  // What matters in the end: `ccm start` itself starts on that data dir and serves the saved config.
  const ccm = spawnCli(["start", "--data-dir", dir, "--http-listen", "127.0.0.1:0"]);
  let log = "";
  ccm.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  t.after(() => ccm.kill("SIGKILL"));
  await until(() => /RPC over HTTP and WebSocket on http:/.test(log), "ccm start to listen", 20_000);
  const url = /RPC over HTTP and WebSocket on (http:\/\/127\.0\.0\.1:\d+)\/rpc/.exec(log)?.[1];
  const res = await fetch(`${url}/rpc/Config.Get`, { method: "POST", body: '{"key":"wifi.sta.ssid"}' });
  assert.equal(res.status, 200);
  assert.equal(await res.json(), `net-${before}`);
  assert.doesNotMatch(log, /saved config unusable/);
  const exited = new Promise<number | null>((resolve) => ccm.once("exit", resolve));
  ccm.kill("SIGTERM");
  assert.equal(await exited, 0);
});
