import assert from "node:assert/strict";
import { test } from "node:test";
import { applyUpdate, getDocument, type ShadowDocument, type UpdateOutcome } from "./document.js";

const limits = { maxBytes: 8192, maxDepth: 6 };

/** Applies updates in turn, each at time 1000 + i, and returns the last outcome and document. */
function run(...payloads: object[]): { doc: ShadowDocument | undefined; last: UpdateOutcome } {
  let doc: ShadowDocument | undefined;
  let last: UpdateOutcome | undefined;
  payloads.forEach((p, i) => {
    last = applyUpdate(doc, JSON.stringify(p), 1000 + i, limits);
    if (last.ok) doc = last.doc;
  });
  return { doc, last: last! };
}

test("AWS data flow: desired from the app makes a delta; the device's report clears it", () => {
  const first = run({ state: { desired: { color: "red" } }, clientToken: "app" });
  assert.ok(first.last.ok);
  assert.deepEqual(first.last.result.accepted, {
    state: { desired: { color: "red" } },
    metadata: { desired: { color: { timestamp: 1000 } } },
    version: 1,
    timestamp: 1000,
    clientToken: "app",
  });
  assert.deepEqual(first.last.result.delta, {
    state: { color: "red" },
    metadata: { color: { timestamp: 1000 } },
    version: 1,
    timestamp: 1000,
    clientToken: "app",
  });
  const second = run({ state: { desired: { color: "red" } } }, { state: { reported: { color: "red" } } });
  assert.ok(second.last.ok);
  assert.equal(second.last.result.delta, undefined);
  assert.deepEqual(getDocument(second.doc!, 2000), {
    state: { desired: { color: "red" }, reported: { color: "red" } },
    metadata: { desired: { color: { timestamp: 1000 } }, reported: { color: { timestamp: 1001 } } },
    version: 2,
    timestamp: 2000,
  });
});

test("the documents topic carries the previous and the current document", () => {
  const { last } = run({ state: { reported: { on: false } } }, { state: { reported: { on: true } } });
  assert.ok(last.ok);
  assert.deepEqual(last.result.documents, {
    previous: {
      state: { reported: { on: false } },
      metadata: { reported: { on: { timestamp: 1000 } } },
      version: 1,
    },
    current: {
      state: { reported: { on: true } },
      metadata: { reported: { on: { timestamp: 1001 } } },
      version: 2,
    },
    timestamp: 1001,
  });
});

test("null deletes a key and its metadata; a null section removes the whole section", () => {
  const a = run({ state: { reported: { a: 1, b: 2 } } }, { state: { reported: { a: null } } });
  assert.ok(a.doc);
  assert.deepEqual(a.doc.state, { reported: { b: 2 } });
  assert.deepEqual(a.doc.metadata, { reported: { b: { timestamp: 1000 } } });
  const b = run({ state: { desired: { a: 1 }, reported: { a: 2 } } }, { state: { desired: null } });
  assert.ok(b.doc);
  assert.deepEqual(b.doc.state, { reported: { a: 2 } });
  assert.equal((getDocument(b.doc, 0).state as { delta?: unknown }).delta, undefined);
});

test("nested objects merge and the delta names full paths; arrays replace whole", () => {
  const { doc, last } = run(
    { state: { reported: { cfg: { led: { on: true, level: 3 } }, list: [1, 2, 3] } } },
    { state: { desired: { cfg: { led: { level: 5 } }, list: [4] } } },
  );
  assert.ok(last.ok);
  assert.deepEqual(doc?.state.reported, { cfg: { led: { on: true, level: 3 } }, list: [1, 2, 3] });
  assert.deepEqual(last.result.delta?.state, { cfg: { led: { level: 5 } }, list: [4] });
  assert.deepEqual(last.result.delta.metadata, {
    cfg: { led: { level: { timestamp: 1001 } } },
    list: [{ timestamp: 1001 }],
  });
  const merged = run({ state: { reported: { cfg: { a: 1 } } } }, { state: { reported: { cfg: { b: 2 } } } });
  assert.deepEqual(merged.doc?.state.reported, { cfg: { a: 1, b: 2 } });
});

test("a stale version is refused with 409 and leaves the shadow as it was", () => {
  const { doc, last } = run(
    { state: { reported: { x: 1 } } },
    { state: { reported: { x: 2 } } },
    { state: { reported: { x: 3 } }, version: 1, clientToken: "t" },
  );
  assert.deepEqual(last, {
    ok: false,
    error: { code: 409, message: "Version conflict", timestamp: 1002, clientToken: "t" },
  });
  assert.equal(doc?.version, 2);
  assert.deepEqual(doc.state.reported, { x: 2 });
  const matching = run({ state: { reported: { x: 1 } } }, { state: { reported: { x: 2 } }, version: 1 });
  assert.ok(matching.last.ok);
});

test("malformed requests get AWS's 400 messages, an oversized state 413", () => {
  const err = (payload: string | object, size = 8192): [number, string] => {
    const r = applyUpdate(undefined, typeof payload === "string" ? payload : JSON.stringify(payload), 5, {
      maxBytes: size,
      maxDepth: 3,
    });
    assert.ok(!r.ok, JSON.stringify(payload));
    return [r.error.code, r.error.message];
  };
  assert.deepEqual(err("{nope"), [400, "Invalid JSON"]);
  assert.deepEqual(err({ clientToken: "x" }), [400, "Missing required node: state"]);
  assert.deepEqual(err({ state: 5 }), [400, "State node must be an object"]);
  assert.deepEqual(err({ state: { desired: [1] } }), [400, "Desired node must be an object"]);
  assert.deepEqual(err({ state: { reported: "on" } }), [400, "Reported node must be an object"]);
  assert.deepEqual(err({ state: { delta: {} } }), [400, "State contains an invalid node"]);
  assert.deepEqual(err({ state: { reported: { a: [1, null] } } }), [400, "State contains an invalid node"]);
  assert.deepEqual(err({ state: { reported: {} }, version: "1" }), [400, "Invalid version"]);
  assert.deepEqual(err({ state: { reported: {} }, clientToken: "x".repeat(65) }), [
    400,
    "Invalid clientToken",
  ]);
  assert.deepEqual(err({ state: { reported: { a: { b: { c: 1 } } } } }), [
    400,
    "JSON contains too many levels of nesting; maximum is 3",
  ]);
  assert.ok(
    applyUpdate(undefined, '{"state":{"reported":{"a":{"b":1}}}}', 5, { maxBytes: 64, maxDepth: 3 }).ok,
  );
  assert.deepEqual(err({ state: { reported: { big: "x".repeat(100) } } }, 64), [
    413,
    "The payload exceeds the maximum size allowed",
  ]);
});

test("arrays get one metadata entry per element, as AWS's walkthrough shows for ColorRGB", () => {
  const { last } = run({ state: { reported: { ColorRGB: [128, 128, 128], pts: [{ x: 1 }, [2]] } } });
  assert.ok(last.ok);
  const t = { timestamp: 1000 };
  assert.deepEqual(last.result.accepted.metadata, {
    reported: { ColorRGB: [t, t, t], pts: [{ x: t }, [t]] },
  });
});

test("a key that held a value and now holds an object gets fresh metadata, not the old leaf's", () => {
  const { doc } = run(
    { state: { reported: { a: 1, cfg: { timestamp: 7 } } } },
    { state: { reported: { a: { b: 2 }, cfg: { n: 1 } } } },
  );
  assert.deepEqual(doc?.metadata.reported, {
    a: { b: { timestamp: 1001 } },
    cfg: { timestamp: { timestamp: 1000 }, n: { timestamp: 1001 } },
  });
});

test("a null state clears desired and reported, keeps the shadow, and the version goes on", () => {
  const { doc, last } = run(
    { state: { desired: { on: true }, reported: { on: false } } },
    { state: null, clientToken: "clear" },
    { state: { reported: { on: true } } },
  );
  assert.ok(last.ok);
  assert.deepEqual(doc, {
    state: { reported: { on: true } },
    metadata: { reported: { on: { timestamp: 1002 } } },
    version: 3,
  });
  const cleared = run({ state: { desired: { on: true } } }, { state: null, clientToken: "clear" });
  assert.ok(cleared.last.ok);
  assert.deepEqual(cleared.last.result.accepted, {
    state: { desired: null, reported: null },
    metadata: { desired: { timestamp: 1001 }, reported: { timestamp: 1001 } },
    version: 2,
    timestamp: 1001,
    clientToken: "clear",
  });
  assert.equal(cleared.last.result.delta, undefined);
  assert.deepEqual(getDocument(cleared.doc!, 2000), { state: {}, metadata: {}, version: 2, timestamp: 2000 });
});

test("a payload that is not UTF-8 is refused with 415 and AWS's text", () => {
  const bytes = Buffer.concat([
    Buffer.from('{"state":{"reported":{"name":"'),
    Buffer.from([0xc3, 0x28]),
    Buffer.from('"}}}'),
  ]);
  const r = applyUpdate(undefined, bytes, 5, limits);
  assert.deepEqual(r, {
    ok: false,
    error: {
      code: 415,
      message: "Unsupported documented encoding; supported encoding is UTF-8",
      timestamp: 5,
    },
  });
  const ok = applyUpdate(undefined, Buffer.from('{"state":{"reported":{"name":"Zürich"}}}'), 5, limits);
  assert.ok(ok.ok);
  assert.deepEqual(ok.doc.state.reported, { name: "Zürich" });
});
