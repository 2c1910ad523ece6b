import assert from "node:assert/strict";
import { test } from "node:test";
import { isCcmError } from "../errors.js";
import { applyUpdate, type JsonObject, type ShadowDocument } from "./document.js";
import { ReportQueue } from "./report-queue.js";

const limits = { maxBytes: 8192, maxDepth: 6 };

/** The reported state after applying `patches` in turn to a shadow reporting `base`. */
function reportedAfter(base: JsonObject, patches: JsonObject[]): unknown {
  let doc: ShadowDocument | undefined;
  for (const p of [base, ...patches]) {
    const r = applyUpdate(doc, JSON.stringify({ state: { reported: p } }), 1, limits);
    assert.ok(r.ok);
    doc = r.doc;
  }
  return doc?.state.reported;
}

function drain(q: ReportQueue): JsonObject[] {
  const out: JsonObject[] = [];
  for (let p = q.take(); p !== undefined; p = q.take()) out.push(p);
  return out;
}

test("reports made while offline merge into one patch that leaves the shadow as all of them in turn would", () => {
  const base = { on: false, cfg: { a: 1, b: 2 }, list: [1, 2] };
  const reports = [
    { on: true },
    { cfg: { b: null, c: 3 } },
    { list: [3] },
    { cfg: { d: { e: 1 } } },
    { on: null },
  ];
  const q = new ReportQueue();
  for (const r of reports) q.add(r);
  const sent = drain(q);
  assert.deepEqual(sent, [{ on: null, cfg: { b: null, c: 3, d: { e: 1 } }, list: [3] }]);
  assert.deepEqual(reportedAfter(base, sent), reportedAfter(base, reports));
});

test("an object reported where a null or a value was reported before waits as a patch of its own", () => {
  const base = { cfg: { old: 1 }, mode: { x: 1 } };
  const reports = [
    { cfg: null },
    { cfg: { fresh: 2 } },
    { mode: "auto" },
    { mode: { y: 2 } },
    { cfg: { more: 3 } },
  ];
  const q = new ReportQueue();
  for (const r of reports) q.add(r);
  const sent = drain(q);
  assert.deepEqual(sent, [
    { cfg: null },
    { cfg: { fresh: 2 }, mode: "auto" },
    { mode: { y: 2 }, cfg: { more: 3 } },
  ]);
  assert.deepEqual(reportedAfter(base, sent), reportedAfter(base, reports));
  assert.deepEqual(reportedAfter(base, sent), { cfg: { fresh: 2, more: 3 }, mode: { y: 2 } });
});

test("a patch taken to be sent is not merged into; put back, it goes first again", () => {
  const q = new ReportQueue();
  q.add({ a: 1 });
  const sending = q.take()!;
  q.add({ b: 2 });
  assert.deepEqual(sending, { a: 1 });
  q.putBack(sending);
  assert.deepEqual(drain(q), [{ a: 1 }, { b: 2 }]);
});

test("sixteen patches that cannot be merged are the bound: the next report is refused, LINK_DOWN", () => {
  const q = new ReportQueue();
  // Each sets an object where the one before set null: none can be merged into the one before.
  const patch = (i: number): JsonObject =>
    i === 0 ? { k0: null } : { [`k${i}`]: null, [`k${i - 1}`]: { x: i } };
  for (let i = 0; i < 16; i++) q.add(patch(i));
  assert.equal(q.length, 16);
  assert.throws(
    () => {
      q.add(patch(16));
    },
    (e) => isCcmError(e, "LINK_DOWN") && /16 reports/.test(e.message),
  );
  q.add({ on: true });
  assert.equal(q.length, 16, "one that merges still fits");
});
