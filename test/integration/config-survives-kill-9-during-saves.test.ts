import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ConfigStore } from "../../src/config/store.js";
import { createLogger } from "../../src/log/logger.js";

const saver = fileURLToPath(new URL("../helpers/config-saver.ts", import.meta.url));

/** Starts the saver on `dir`, kills it with SIGKILL `afterMs` after its first save, waits for it to die. */
function saveThenKill(dir: string, afterMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", saver, dir], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    child.stdout.once("data", () => setTimeout(() => child.kill("SIGKILL"), afterMs));
    child.once("error", reject);
    child.once("exit", (_code, signal) => {
      if (signal === "SIGKILL") resolve();
      else reject(new Error(`saver ended on its own (${String(signal)})`));
    });
  });
}

test("kill -9 during saves, again and again, never leaves a config the CCM cannot start with", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ccm-kill-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let last = 0;
  for (let round = 0; round < 6; round++) {
    await saveThenKill(dir, 5 + round * 13);
    const warnings: string[] = [];
    const store = ConfigStore.open({ dataDir: dir, logger: createLogger(1, (l) => warnings.push(l)) });
    const m = /^net-(\d+)$/.exec(store.config.wifi.sta.ssid);
    assert.ok(m !== null, `round ${round}: ssid ${store.config.wifi.sta.ssid}`);
    assert.ok(Number(m[1]) >= 1, `round ${round}: a saved value survived`);
    assert.deepEqual(warnings, [], `round ${round}: the current file was whole`);
    last = Number(m[1]);
  }
  assert.ok(last > 0);
});
