import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { Outbox } from "./outbox.js";

function file(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "ccm-outbox-"));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return join(dir, "outbox.jsonl");
}

const msg = (i: number) => ({ topic: `t/${i}`, payload: `m${i}`, retain: false });

test("queued messages survive reopening the file, in order", (t) => {
  const path = file(t);
  const a = new Outbox(path, 10);
  for (let i = 0; i < 5; i++) a.push(msg(i));
  a.remove(2);
  const b = new Outbox(path, 10);
  assert.deepEqual(b.peek(10), [msg(2), msg(3), msg(4)]);
});

test("a full queue drops the oldest and counts them", (t) => {
  const q = new Outbox(file(t), 3);
  for (let i = 0; i < 5; i++) q.push(msg(i));
  assert.equal(q.dropped, 2);
  assert.deepEqual(q.peek(10), [msg(2), msg(3), msg(4)]);
});

test("a line torn by a crash is skipped and the rest is kept", (t) => {
  const path = file(t);
  const q = new Outbox(path, 10);
  q.push(msg(1));
  q.push(msg(2));
  appendFileSync(path, '{"topic":"t/3","payl');
  const r = new Outbox(path, 10);
  assert.equal(r.skipped, 1);
  assert.deepEqual(r.peek(10), [msg(1), msg(2)]);
  r.push(msg(4));
  assert.deepEqual(new Outbox(path, 10).peek(10), [msg(1), msg(2), msg(4)]);
});
