import assert from "node:assert/strict";
import { describe, test } from "node:test";
import Type from "typebox";
import { CcmError } from "../errors.js";
import type { ResponseFrame } from "./frame.js";
import { MethodRegistry } from "./registry.js";
import { RpcServer } from "./server.js";
import { registerRpcBuiltins } from "./builtins.js";

function server(selfId?: string): RpcServer {
  const reg = new MethodRegistry();
  registerRpcBuiltins(reg);
  reg.register({
    name: "Sum",
    description: "adds",
    params: Type.Object({ a: Type.Number(), b: Type.Number() }),
    positional: ["a", "b"],
    handler: ({ a, b }) => a + b,
  });
  reg.register({ name: "Slow", description: "async", handler: async () => Promise.resolve("late") });
  reg.register({
    name: "Boom",
    description: "throws",
    handler: () => {
      throw new Error("kaput");
    },
  });
  reg.register({
    name: "Teapot",
    description: "app error",
    handler: () => {
      throw new CcmError("RPC_REMOTE", "short and stout", { rpcCode: 418, data: { spout: 1 } });
    },
  });
  return new RpcServer(reg, selfId === undefined ? {} : { selfId });
}

async function ask(s: RpcServer, value: unknown): Promise<ResponseFrame | ResponseFrame[] | undefined> {
  return new Promise((resolve) => {
    s.handle(value, { channel: "test" }, resolve);
    setTimeout(() => {
      resolve(undefined);
    }, 50);
  });
}

describe("rpc server", () => {
  test("a request is answered with its id and result", async () => {
    assert.deepEqual(await ask(server(), { id: 12007, method: "Sum", params: [2, 3] }), {
      id: 12007,
      result: 5,
    });
  });

  test("named and positional params both reach the handler", async () => {
    assert.deepEqual(await ask(server(), { id: 1, method: "Sum", params: { a: 1, b: 2 } }), {
      id: 1,
      result: 3,
    });
  });

  test("the jsonrpc member is echoed when the request had it", async () => {
    assert.deepEqual(await ask(server(), { jsonrpc: "2.0", id: "x", method: "Sum", params: [1, 1] }), {
      jsonrpc: "2.0",
      id: "x",
      result: 2,
    });
  });

  test("args is accepted as an alias of params", async () => {
    assert.deepEqual(await ask(server(), { id: 1, method: "Sum", args: { a: 5, b: 5 } }), {
      id: 1,
      result: 10,
    });
  });

  test("a notification is served but never answered", async () => {
    assert.equal(await ask(server(), { method: "Sum", params: [1, 2] }), undefined);
    assert.equal(await ask(server(), { method: "No.Such" }), undefined);
  });

  test("a notification that fails or is refused is told to onNotificationFailed; one that succeeds is not", async () => {
    const reg = new MethodRegistry();
    reg.register({ name: "Ok", description: "fine", handler: () => true });
    reg.register({
      name: "Locked",
      description: "refuses",
      handler: () => Promise.reject(new CcmError("CONFIG_LOCKED", "wifi.sta.ssid is locked")),
    });
    reg.register({ name: "Secret", description: "denied", handler: () => true });
    const told: string[] = [];
    const s = new RpcServer(reg, {
      authorize: (frame) => (frame.method === "Secret" ? { code: -32003, message: "forbidden" } : undefined),
      onNotificationFailed: (method, error, ctx) => {
        told.push(`${ctx.channel} ${method} ${error.code} ${error.message}`);
      },
    });
    for (const method of ["Ok", "Locked", "Secret", "No.Such"])
      assert.equal(await ask(s, { method }), undefined);
    assert.deepEqual(await ask(s, { id: 1, method: "Locked" }), {
      id: 1,
      error: { code: new CcmError("CONFIG_LOCKED", "x").rpcCode, message: "wifi.sta.ssid is locked" },
    });
    assert.deepEqual(told, [
      `test Locked ${new CcmError("CONFIG_LOCKED", "x").rpcCode} wifi.sta.ssid is locked`,
      "test Secret -32003 forbidden",
      "test No.Such -32601 method not found",
    ]);
  });

  test("an unknown method gets -32601", async () => {
    assert.deepEqual(await ask(server(), { id: 2, method: "No.Such" }), {
      id: 2,
      error: { code: -32601, message: "method not found" },
    });
  });

  test("invalid params get -32602 naming the bad field", async () => {
    const r = (await ask(server(), { id: 3, method: "Sum", params: { a: 1, b: "x" } })) as ResponseFrame;
    assert.equal(r.error?.code, -32602);
    assert.match(String(r.error.message), /params\.b must be number/);
    const missing = (await ask(server(), { id: 4, method: "Sum", params: [1] })) as ResponseFrame;
    assert.match(missing.error?.message ?? "", /params\.b is required/);
    const tooMany = (await ask(server(), { id: 5, method: "Sum", params: [1, 2, 3] })) as ResponseFrame;
    assert.equal(tooMany.error?.code, -32602);
  });

  test("a handler that throws gets -32603 and the server keeps serving", async () => {
    const s = server();
    const r = (await ask(s, { id: 6, method: "Boom" })) as ResponseFrame;
    assert.deepEqual(r.error, { code: -32603, message: "internal error: kaput" });
    assert.deepEqual(await ask(s, { id: 7, method: "Sum", params: [1, 1] }), { id: 7, result: 2 });
  });

  test("an application error keeps its own code and data", async () => {
    const r = (await ask(server(), { id: 8, method: "Teapot" })) as ResponseFrame;
    assert.deepEqual(r.error, { code: 418, message: "short and stout", data: { spout: 1 } });
  });

  test("an async handler is answered when it settles", async () => {
    assert.deepEqual(await ask(server(), { id: 9, method: "Slow" }), { id: 9, result: "late" });
  });

  test("invalid requests get -32600 with the id when it is usable", async () => {
    assert.deepEqual(await ask(server(), 1), {
      id: null,
      error: { code: -32600, message: "invalid request: a frame must be a JSON object" },
    });
    const r = (await ask(server(), { id: 10, method: 5 })) as ResponseFrame;
    assert.equal(r.id, 10);
    assert.equal(r.error?.code, -32600);
    const badId = (await ask(server(), { id: { x: 1 }, method: "Sum" })) as ResponseFrame;
    assert.equal(badId.id, null);
    assert.equal(badId.error?.code, -32600);
    const badVersion = (await ask(server(), { jsonrpc: "1.0", id: 11, method: "Sum" })) as ResponseFrame;
    assert.equal(badVersion.error?.code, -32600);
  });

  test("a batch is answered with an array in order, notifications left out", async () => {
    const r = await ask(server(), [
      { id: 1, method: "Sum", params: [1, 2] },
      { method: "Sum", params: [1, 2] },
      { id: 2, method: "Slow" },
      { id: 3, method: "No.Such" },
      7,
    ]);
    assert.deepEqual(r, [
      { jsonrpc: "2.0", id: 1, result: 3 },
      { jsonrpc: "2.0", id: 2, result: "late" },
      { jsonrpc: "2.0", id: 3, error: { code: -32601, message: "method not found" } },
      {
        jsonrpc: "2.0",
        id: null,
        error: { code: -32600, message: "invalid request: a frame must be a JSON object" },
      },
    ]);
  });

  test("an empty batch is one -32600 error and an all-notification batch gets nothing", async () => {
    assert.deepEqual(await ask(server(), []), {
      jsonrpc: "2.0",
      id: null,
      error: { code: -32600, message: "invalid request: empty batch" },
    });
    assert.equal(await ask(server(), [{ method: "Sum", params: [1, 2] }]), undefined);
  });

  test("a batch larger than the bound is refused whole", async () => {
    const big = Array.from({ length: 65 }, (_, i) => ({ id: i, method: "RPC.Ping" }));
    const r = (await ask(server(), big)) as ResponseFrame;
    assert.equal(r.error?.code, -32600);
    assert.match(String(r.error.message), /batch of 65 exceeds 64/);
  });

  test("Mongoose OS envelope: src is the node id, dst the caller, tag echoed", async () => {
    assert.deepEqual(
      await ask(server("ccm-1"), { id: 1, src: "mos", tag: "t1", method: "Sum", params: [1, 2] }),
      {
        id: 1,
        src: "ccm-1",
        dst: "mos",
        tag: "t1",
        result: 3,
      },
    );
  });

  test("RPC.List and RPC.Describe introspect the registry", async () => {
    const list = (await ask(server(), { id: 1, method: "RPC.List" })) as ResponseFrame;
    assert.deepEqual(list.result, ["Boom", "RPC.Describe", "RPC.List", "RPC.Ping", "Slow", "Sum", "Teapot"]);
    const d = (await ask(server(), {
      id: 2,
      method: "RPC.Describe",
      params: { name: "Sum" },
    })) as ResponseFrame;
    const desc = d.result as { name: string; params: { required: string[] } };
    assert.equal(desc.name, "Sum");
    assert.deepEqual(desc.params.required, ["a", "b"]);
    const none = (await ask(server(), { id: 3, method: "RPC.Describe", params: ["Nope"] })) as ResponseFrame;
    assert.equal(none.error?.code, 404);
  });
});
