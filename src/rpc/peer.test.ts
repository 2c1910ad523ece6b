import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isCcmError } from "../errors.js";
import type { RequestFrame, ResponseFrame } from "./frame.js";
import { RpcPeer, type RpcPeerOptions } from "./peer.js";
import { MethodRegistry } from "./registry.js";
import { RpcServer } from "./server.js";

type Sent = RequestFrame | ResponseFrame | ResponseFrame[];

/** Two peers joined through JSON text, as a channel would join them. */
function pair(a: Partial<RpcPeerOptions> = {}, b: Partial<RpcPeerOptions> = {}): [RpcPeer, RpcPeer, Sent[]] {
  const wire: Sent[] = [];
  const regB = new MethodRegistry();
  regB.register({ name: "Echo", description: "echo", handler: (_p, ctx) => ctx.frame.params ?? null });
  const ref: { left?: RpcPeer } = {};
  const right = new RpcPeer({
    send: (f) => {
      queueMicrotask(() => ref.left?.receiveText(JSON.stringify(f)));
    },
    server: new RpcServer(regB),
    ...b,
  });
  const left = new RpcPeer({
    send: (f) => {
      wire.push(f);
      queueMicrotask(() => {
        right.receiveText(JSON.stringify(f));
      });
    },
    ...a,
  });
  ref.left = left;
  return [left, right, wire];
}

describe("rpc peer", () => {
  test("a call resolves with the other end's result", async () => {
    const [a] = pair();
    assert.deepEqual(await a.call("Echo", { x: [1, 2] }), { x: [1, 2] });
  });

  test("ids are unique per peer", async () => {
    const [a, , wire] = pair();
    await Promise.all([a.call("Echo", 1), a.call("Echo", 2), a.call("Echo", 3)]);
    const ids = wire.map((f) => (f as RequestFrame).id);
    assert.equal(new Set(ids).size, 3);
  });

  test("concurrent calls each get their own answer", async () => {
    const [a] = pair();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => a.call("Echo", i)));
    assert.deepEqual(
      results,
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  test("an error answer rejects with the remote code and message", async () => {
    const [a] = pair();
    await assert.rejects(a.call("Nope"), (e) => isCcmError(e, "RPC_REMOTE") && e.rpcCode === -32601);
  });

  test("error code 0 counts as success (Mongoose OS)", async () => {
    const p = new RpcPeer({
      send: (f) => {
        queueMicrotask(() => {
          p.receive({ id: (f as RequestFrame).id, error: { code: 0 } });
        });
      },
    });
    assert.equal(await p.call("Sys.SetDebug", { level: 2 }), null);
  });

  test("a call with no answer times out with a clear error", async () => {
    const p = new RpcPeer({ send: () => undefined, timeoutMs: 20 });
    await assert.rejects(
      p.call("Silent"),
      (e) => isCcmError(e, "RPC_TIMEOUT") && /Silent: no answer within 20 ms/.test(e.message),
    );
    assert.equal(p.pendingCount, 0);
  });

  test("an AbortSignal cancels a pending call", async () => {
    const p = new RpcPeer({ send: () => undefined });
    const ac = new AbortController();
    const call = p.call("Slow", undefined, { signal: ac.signal });
    ac.abort();
    await assert.rejects(call, (e) => isCcmError(e, "RPC_ABORTED"));
    await assert.rejects(p.call("X", undefined, { signal: AbortSignal.abort() }), (e) =>
      isCcmError(e, "RPC_ABORTED"),
    );
  });

  test("pending calls are bounded", async () => {
    const p = new RpcPeer({ send: () => undefined, maxPending: 2, timeoutMs: 50 });
    const first = [p.call("A"), p.call("B")];
    await assert.rejects(p.call("C"), (e) => isCcmError(e, "RPC_TOO_MANY_PENDING"));
    await Promise.allSettled(first);
  });

  test("closing fails every pending call, and calls after close fail at once", async () => {
    const p = new RpcPeer({ send: () => undefined });
    const calls = [p.call("A"), p.call("B")];
    p.close("host unplugged");
    for (const c of calls)
      await assert.rejects(c, (e) => isCcmError(e, "LINK_DOWN") && /host unplugged/.test(e.message));
    await assert.rejects(p.call("C"), (e) => isCcmError(e, "LINK_DOWN"));
    p.reopen();
    assert.equal(p.pendingCount, 0);
  });

  test("a send that throws fails the call instead of leaving it pending", async () => {
    const p = new RpcPeer({
      send: () => {
        throw new Error("port closed");
      },
    });
    await assert.rejects(p.call("A"), (e) => isCcmError(e, "LINK_DOWN") && /port closed/.test(e.message));
    assert.equal(p.pendingCount, 0);
  });

  test("a response nobody waits for is reported, not thrown", () => {
    const problems: string[] = [];
    const p = new RpcPeer({ send: () => undefined, onProblem: (k) => problems.push(k) });
    p.receive({ id: 99, result: 1 });
    p.receive({ error: { code: -32700, message: "boo" } });
    assert.deepEqual(problems, ["unmatched-response", "unmatched-response"]);
  });

  test("text that is not JSON is answered with -32700 and id null", () => {
    const sent: Sent[] = [];
    const p = new RpcPeer({ send: (f) => sent.push(f), server: new RpcServer(new MethodRegistry()) });
    p.receiveText("{not json");
    assert.equal(sent.length, 1);
    const r = sent[0] as ResponseFrame;
    assert.equal(r.id, null);
    assert.equal(r.error?.code, -32700);
  });

  test("a peer without a server answers requests with -32601 and ignores notifications", () => {
    const sent: Sent[] = [];
    const p = new RpcPeer({ send: (f) => sent.push(f) });
    p.receive({ id: 5, method: "X" });
    p.receive({ method: "Y" });
    assert.deepEqual(sent, [{ id: 5, error: { code: -32601, message: "method not found" } }]);
  });

  test("requests carry jsonrpc, and Mongoose OS envelope fields when asked", () => {
    const sent: Sent[] = [];
    const p = new RpcPeer({ send: (f) => sent.push(f), timeoutMs: 5 });
    p.call("M", [1], { envelope: { src: "ccm", tag: "t" } }).catch(() => undefined);
    p.notify("N");
    const [req, note] = sent as RequestFrame[];
    assert.equal(req!.jsonrpc, "2.0");
    assert.equal(req!.src, "ccm");
    assert.equal(req!.tag, "t");
    assert.deepEqual(note, { jsonrpc: "2.0", method: "N" });
    const bare = new RpcPeer({ send: (f) => sent.push(f), jsonrpcMember: false });
    bare.notify("N", { on: true });
    assert.deepEqual(sent[2], { method: "N", params: { on: true } });
  });
});
