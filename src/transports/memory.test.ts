import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, test } from "node:test";
import { isCcmError } from "../errors.js";
import { memoryPair, type MemoryTransport } from "./memory.js";

function received(t: MemoryTransport): Buffer[] {
  const chunks: Buffer[] = [];
  t.on("data", (c) => chunks.push(c));
  return chunks;
}

function closes(t: MemoryTransport): (Error | undefined)[] {
  const events: (Error | undefined)[] = [];
  t.on("close", (e) => events.push(e));
  return events;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("memoryPair", () => {
  test("both ends start open and report their paths", () => {
    const [a, b] = memoryPair();
    assert.equal(a.isOpen, true);
    assert.equal(b.isOpen, true);
    assert.equal(a.path, "mem:a");
    assert.equal(b.path, "mem:b");
  });

  test("bytes written on one end arrive on the other in order, in both directions", async () => {
    const [a, b] = memoryPair();
    const atB = received(b);
    const atA = received(a);
    await Promise.all([
      a.write("one "),
      a.write(new Uint8Array([0x74, 0x77, 0x6f])),
      a.write(Buffer.from(" three")),
    ]);
    await b.write("back");
    assert.equal(Buffer.concat(atB).toString(), "one two three");
    assert.equal(Buffer.concat(atA).toString(), "back");
  });

  test("data is delivered asynchronously, never inside write()", async () => {
    const [a, b] = memoryPair();
    const atB = received(b);
    const pending = a.write("x");
    assert.equal(atB.length, 0);
    await pending;
    assert.equal(atB.length, 1);
  });

  test("the receiver gets a copy, so reusing the written buffer does not change delivered bytes", async () => {
    const [a, b] = memoryPair();
    const atB = received(b);
    const buf = Buffer.from("abc");
    const pending = a.write(buf);
    buf.fill(0);
    await pending;
    assert.equal(Buffer.concat(atB).toString(), "abc");
  });

  test("close() emits close without an error on that end and close with 'peer closed' on the other", async () => {
    const [a, b] = memoryPair();
    const atA = closes(a);
    const peerClosed = once(b, "close");
    await a.close();
    assert.deepEqual(atA, [undefined]);
    assert.equal(a.isOpen, false);
    const [err] = (await peerClosed) as [Error | undefined];
    assert.ok(err instanceof Error);
    assert.match(err.message, /peer closed/);
    assert.equal(b.isOpen, false);
  });

  test("close() is idempotent", async () => {
    const [a, b] = memoryPair();
    const atA = closes(a);
    const atB = closes(b);
    await a.close();
    await a.close();
    await tick();
    await b.close();
    assert.equal(atA.length, 1);
    assert.equal(atB.length, 1);
  });

  test("bytes written just before close() still reach the peer before its close event", async () => {
    const [a, b] = memoryPair();
    const order: string[] = [];
    b.on("data", (c) => order.push(`data:${c.toString()}`));
    b.on("close", (e) => order.push(`close:${e?.message ?? ""}`));
    void a.write("last words");
    await a.close();
    await once(b, "close");
    assert.deepEqual(order, ["data:last words", "close:mem:b: peer closed"]);
  });

  test("unplug() closes both ends at once, each with an error", async () => {
    const [a, b] = memoryPair();
    const closedA = once(a, "close");
    const closedB = once(b, "close");
    a.unplug();
    assert.equal(a.isOpen, false);
    assert.equal(b.isOpen, false);
    const [[errA], [errB]] = (await Promise.all([closedA, closedB])) as [[Error?], [Error?]];
    assert.match(errA?.message ?? "", /unplugged/);
    assert.match(errB?.message ?? "", /unplugged/);
  });

  test("bytes in flight when the cable is pulled are lost", async () => {
    const [a, b] = memoryPair();
    const atB = received(b);
    const pending = a.write("lost");
    b.unplug();
    await pending;
    assert.equal(atB.length, 0);
  });

  test("writing on a closed end rejects with LINK_DOWN", async () => {
    const [a] = memoryPair();
    a.unplug();
    await assert.rejects(a.write("x"), (e) => isCcmError(e, "LINK_DOWN"));
  });

  test("after an unplug, bytes flow again once both ends are reopened", async () => {
    const [a, b] = memoryPair();
    a.unplug();
    await tick();
    const atB = received(b);
    await a.open();
    await a.write("into the void");
    assert.equal(atB.length, 0, "a reopened end talks to nobody while its peer is closed");
    await b.open();
    await a.write("hello again");
    assert.equal(Buffer.concat(atB).toString(), "hello again");
  });

  test("update() records the requested line settings", async () => {
    const [a] = memoryPair();
    await a.update({ baudRate: 57600 });
    await a.update({ parity: "even" });
    assert.deepEqual(a.lineSettings, { baudRate: 57600, parity: "even" });
  });
});
