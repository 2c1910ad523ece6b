import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { isCcmError } from "../errors.js";
import { silentLogger } from "../log/logger.js";
import { PrivateShadow } from "./private-shadow.js";

async function shadow(t: TestContext): Promise<{ s: PrivateShadow; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "ccm-shadow-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const s = new PrivateShadow({
    dataDir: dir,
    prefix: "$aws/things/t/shadow",
    limits: { maxBytes: 8192, maxDepth: 6 },
    logger: silentLogger,
  });
  return { s, dir };
}

const onDisk = async (dir: string): Promise<number> =>
  (JSON.parse(await readFile(join(dir, "shadow.json"), "utf8")) as { version: number }).version;

test("updates made in one turn of the event loop are all on disk before the first is acknowledged", async (t) => {
  const { s, dir } = await shadow(t);
  const versions: number[] = [];
  const first = s.update({ state: { desired: { n: 0 } } }).then(async () => onDisk(dir));
  const rest = Array.from({ length: 49 }, (_, i) =>
    s.update({ state: { desired: { n: i + 1 } } }).then((a) => versions.push(a.version as number)),
  );
  assert.equal(await first, 50, "one save holds all fifty");
  await Promise.all(rest);
  assert.deepEqual(
    versions,
    Array.from({ length: 49 }, (_, i) => i + 2),
    "acknowledged in order",
  );
});

test("when the save fails, the updates of that turn are refused with 500 and the shadow keeps its saved state", async (t) => {
  const { s, dir } = await shadow(t);
  await s.update({ state: { reported: { on: false } } });
  // The temp file's name is taken by a folder: the write fails as a full or broken disk would.
  await mkdir(join(dir, `shadow.json.tmp-${process.pid}`));
  await assert.rejects(
    s.update({ state: { reported: { on: true } } }),
    (e) => isCcmError(e) && e.rpcCode === 500 && /could not be saved/.test(e.message),
  );
  const doc = (await s.get()) as { state: { reported: { on: boolean } }; version: number };
  assert.deepEqual([doc.state.reported.on, doc.version], [false, 1]);
  assert.equal(await onDisk(dir), 1);
});
