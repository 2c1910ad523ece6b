/**
 * The examples of the JSON-RPC 2.0 specification (§7), fed as text to our RpcPeer + RpcServer;
 * every reply must match the spec's (jsonrpc, id, result or error code) and pass the
 * `json-rpc-2.0` npm package's own response check (isJSONRPCResponse / isJSONRPCResponses).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isJSONRPCResponse, isJSONRPCResponses } from "json-rpc-2.0";
import Type from "typebox";
import { RpcPeer } from "../../src/rpc/peer.js";
import { MethodRegistry } from "../../src/rpc/registry.js";
import { RpcServer } from "../../src/rpc/server.js";

/** Lets every reply arrive (a few turns of the event loop). */
async function drain(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

function specServer(): { peer: RpcPeer; replies: unknown[] } {
  const registry = new MethodRegistry();
  registry.register({
    name: "subtract",
    description: "minuend - subtrahend",
    params: Type.Object({ minuend: Type.Number(), subtrahend: Type.Number() }),
    positional: ["minuend", "subtrahend"],
    handler: ({ minuend, subtrahend }) => minuend - subtrahend,
  });
  registry.register({
    name: "sum",
    description: "sum of numbers",
    params: Type.Array(Type.Number()),
    handler: (p) => p.reduce((x, y) => x + y, 0),
  });
  for (const name of ["update", "notify_hello", "notify_sum"]) {
    registry.register({
      name,
      description: "notification sink",
      params: Type.Array(Type.Number()),
      handler: () => null,
    });
  }
  registry.register({ name: "get_data", description: "data", handler: () => ["hello", 5] });
  const replies: unknown[] = [];
  const peer = new RpcPeer({
    server: new RpcServer(registry),
    send: (frame) => {
      replies.push(JSON.parse(JSON.stringify(frame)));
    },
  });
  return { peer, replies };
}

/** A response reduced to what the spec fixes: jsonrpc, id, and result or error.code (messages are free). */
function gist(r: unknown): unknown {
  if (Array.isArray(r)) return r.map(gist);
  const o = r as { jsonrpc?: unknown; id?: unknown; result?: unknown; error?: { code?: unknown } };
  return o.error === undefined
    ? { jsonrpc: o.jsonrpc, id: o.id, result: o.result }
    : { jsonrpc: o.jsonrpc, id: o.id, code: o.error.code };
}

const ok = (id: unknown, result: unknown) => ({ jsonrpc: "2.0", id, result });
const err = (id: unknown, code: number) => ({ jsonrpc: "2.0", id, code });

async function specCase(text: string, expected: unknown): Promise<void> {
  const { peer, replies } = specServer();
  peer.receiveText(text);
  await drain();
  if (expected === undefined) {
    assert.deepEqual(replies, [], "nothing is returned");
    return;
  }
  assert.equal(replies.length, 1, "exactly one reply");
  assert.deepEqual(gist(replies[0]), expected);
  const valid = Array.isArray(replies[0]) ? isJSONRPCResponses(replies[0]) : isJSONRPCResponse(replies[0]);
  assert.ok(valid, `json-rpc-2.0 accepts the reply as a response: ${JSON.stringify(replies[0])}`);
}

test("our server answers the JSON-RPC 2.0 spec's valid examples (§7) exactly", async (t) => {
  await t.test("rpc call with positional parameters", () =>
    specCase('{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}', ok(1, 19)),
  );
  await t.test("rpc call with positional parameters, reversed", () =>
    specCase('{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}', ok(2, -19)),
  );
  await t.test("rpc call with named parameters", () =>
    specCase(
      '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}',
      ok(3, 19),
    ),
  );
  await t.test("rpc call with named parameters, other order", () =>
    specCase(
      '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}',
      ok(4, 19),
    ),
  );
  await t.test("a notification", () =>
    specCase('{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}', undefined),
  );
  await t.test("a notification of a method that does not exist", () =>
    specCase('{"jsonrpc": "2.0", "method": "foobar"}', undefined),
  );
  await t.test("rpc call of non-existent method", () =>
    specCase('{"jsonrpc": "2.0", "method": "foobar", "id": "1"}', err("1", -32601)),
  );
  await t.test("rpc call with invalid Request object", () =>
    specCase('{"jsonrpc": "2.0", "method": 1, "params": "bar"}', err(null, -32600)),
  );
  await t.test("rpc call Batch (all notifications)", () =>
    specCase(
      '[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]}, {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]',
      undefined,
    ),
  );
});

test("our server answers the JSON-RPC 2.0 spec's invalid-input examples (§7) with spec-valid responses", async (t) => {
  await t.test("rpc call with invalid JSON", () =>
    specCase('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]', err(null, -32700)),
  );
  await t.test("rpc call Batch, invalid JSON", () =>
    specCase(
      '[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method"]',
      err(null, -32700),
    ),
  );
  await t.test("rpc call with an empty Array", () => specCase("[]", err(null, -32600)));
  await t.test("rpc call with an invalid Batch (but not empty)", () => specCase("[1]", [err(null, -32600)]));
  await t.test("rpc call with invalid Batch", () =>
    specCase("[1,2,3]", [err(null, -32600), err(null, -32600), err(null, -32600)]),
  );
  await t.test("rpc call Batch (mixed, with an invalid member)", () =>
    specCase(
      `[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
      ]`,
      [ok("1", 7), ok("2", 19), err(null, -32600), err("5", -32601), ok("9", ["hello", 5])],
    ),
  );
});
