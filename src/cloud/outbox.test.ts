import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { isCcmError } from "../errors.js";
import { Outbox, type OutboxEntry } from "./outbox.js";

const opened = new WeakMap<TestContext, Outbox[]>();

/** A path in a fresh dir; after the test, the outboxes opened on it are closed and the dir removed. */
function file(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "ccm-outbox-"));
  t.after(async () => {
    for (const q of opened.get(t) ?? []) await q.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return join(dir, "outbox.jsonl");
}

/** An outbox closed after the test (its file handle is not left to the garbage collector). */
function outbox(t: TestContext, path: string, max: number): Outbox {
  const q = new Outbox(path, max);
  opened.set(t, [...(opened.get(t) ?? []), q]);
  return q;
}

const msg = (i: number) => ({ topic: `t/${i}`, payload: `m${i}`, retain: false });
const bodies = (es: OutboxEntry[]) =>
  es.map((e) => ({ topic: e.topic, payload: e.payload, retain: e.retain }));

test("a pushed message is on disk once durable resolves: another reader of the file sees it", async (t) => {
  const path = file(t);
  const q = outbox(t, path, 10);
  await q.push(msg(1)).durable;
  assert.deepEqual(bodies(outbox(t, path, 10).peek(10)), [msg(1)]);
});

test("queued messages survive reopening the file, in order, without those marked done", async (t) => {
  const path = file(t);
  const a = outbox(t, path, 10);
  const seqs = [];
  for (let i = 0; i < 5; i++) seqs.push(a.push(msg(i)).entry.seq);
  a.done(seqs[0]!);
  a.done(seqs[2]!);
  await a.close();
  const b = outbox(t, path, 10);
  assert.deepEqual(bodies(b.peek(10)), [msg(1), msg(3), msg(4)]);
  assert.deepEqual(bodies(b.takeDurable()), [msg(1), msg(3), msg(4)], "all of it to be sent after a restart");
});

test("takeDurable gives each message once, oldest first, after it is on disk", async (t) => {
  const q = outbox(t, file(t), 10);
  const first = q.push(msg(1));
  assert.deepEqual(q.takeDurable(), [], "not yet on disk");
  await first.durable;
  const second = q.push(msg(2));
  assert.deepEqual(bodies(q.takeDurable()), [msg(1)]);
  await second.durable;
  assert.deepEqual(bodies(q.takeDurable()), [msg(2)]);
  assert.deepEqual(q.takeDurable(), []);
  assert.equal(q.size, 2, "taken is not done: both wait for their PUBACK");
});

test("a full queue drops the oldest, says so to the push that overflowed (once it is on disk), and counts them", async (t) => {
  const path = file(t);
  const q = outbox(t, path, 3);
  const dropped = [];
  for (let i = 0; i < 5; i++) {
    const p = q.push(msg(i));
    await p.durable;
    dropped.push(p.dropped);
  }
  assert.deepEqual(dropped, [0, 0, 0, 1, 1]);
  assert.equal(q.dropped, 2);
  assert.deepEqual(bodies(q.peek(10)), [msg(2), msg(3), msg(4)]);
  await q.close();
  assert.deepEqual(
    bodies(outbox(t, path, 3).peek(10)),
    [msg(2), msg(3), msg(4)],
    "the drops are on disk too",
  );
});

test("a line torn by a crash is skipped and the rest is kept", async (t) => {
  const path = file(t);
  const q = outbox(t, path, 10);
  q.push(msg(1));
  q.push(msg(2));
  await q.close();
  appendFileSync(path, '{"s":3,"topic":"t/3","payl');
  const r = outbox(t, path, 10);
  assert.equal(r.skipped, 1);
  assert.deepEqual(bodies(r.peek(10)), [msg(1), msg(2)]);
  await r.push(msg(4)).durable;
  assert.deepEqual(bodies(outbox(t, path, 10).peek(10)), [msg(1), msg(2), msg(4)]);
});

test("a queue written before messages had numbers is read in file order", (t) => {
  const path = file(t);
  writeFileSync(path, [msg(1), msg(2), msg(3)].map((m) => `${JSON.stringify(m)}\n`).join(""));
  const q = outbox(t, path, 10);
  assert.deepEqual(bodies(q.takeDurable()), [msg(1), msg(2), msg(3)]);
  assert.equal(q.push(msg(4)).entry.seq, 4);
});

test("thousands of pushes in one go are all durable together, and a busy file is compacted", async (t) => {
  const path = file(t);
  const q = outbox(t, path, 10_000);
  const pushed = Array.from({ length: 5000 }, (_, i) => q.push(msg(i)));
  await Promise.all(pushed.map((p) => p.durable));
  for (const e of q.takeDurable().slice(0, 4990)) q.done(e.seq);
  q.push(msg(5000));
  await q.close();
  const lines = readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "").length;
  assert.ok(lines < 100, `the file was rewritten with the live messages (${lines} lines)`);
  assert.deepEqual(
    bodies(outbox(t, path, 10_000).peek(100)).map((m) => m.payload),
    [...Array.from({ length: 10 }, (_, i) => `m${4990 + i}`), "m5000"],
  );
});

test("a message the disk refused is refused to the publisher with STORE_FAILED and not queued", async (t) => {
  const q = outbox(t, join(file(t), "no-such-dir", "outbox.jsonl"), 10);
  const p = q.push(msg(1));
  await assert.rejects(p.durable, (e) => isCcmError(e, "STORE_FAILED") && /cannot write/.test(e.message));
  assert.equal(q.size, 0);
  assert.deepEqual(q.takeDurable(), []);
});
