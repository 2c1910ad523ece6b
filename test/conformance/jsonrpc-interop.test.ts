/**
 * Interop with the `json-rpc-2.0` npm package (1.8.1) used as an oracle, both ways:
 * (a) their JSONRPCClient calling our RpcPeer + RpcServer, (b) our RpcPeer calling their
 * JSONRPCServer, (c) their JSONRPCServerAndClient and our peer calling each other concurrently.
 * (The JSON-RPC 2.0 specification's own examples are in jsonrpc-spec-examples.test.ts.)
 * Frames cross a simulated wire: serialised to JSON text and delivered on a later turn.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  JSONRPCClient,
  JSONRPCErrorException,
  JSONRPCServer,
  JSONRPCServerAndClient,
  createJSONRPCNotification,
  createJSONRPCRequest,
  isJSONRPCRequest,
  isJSONRPCResponse,
  isJSONRPCResponses,
  type JSONRPCRequest,
  type JSONRPCResponse,
} from "json-rpc-2.0";
import Type from "typebox";
import { isCcmError } from "../../src/errors.js";
import { registerRpcBuiltins } from "../../src/rpc/builtins.js";
import { RpcPeer, type PeerProblem } from "../../src/rpc/peer.js";
import { MethodRegistry } from "../../src/rpc/registry.js";
import { RpcServer } from "../../src/rpc/server.js";

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Lets every frame in flight on the simulated wire arrive (a few turns of the event loop). */
async function drain(): Promise<void> {
  for (let i = 0; i < 5; i++) await turn();
}

/** Our side's methods: Sum (positional a, b or named), Note (a notification sink), and the builtins. */
function ourServer(): { server: RpcServer; notes: unknown[] } {
  const registry = new MethodRegistry();
  const notes: unknown[] = [];
  registry.register({
    name: "Sum",
    description: "a + b",
    params: Type.Object({ a: Type.Number(), b: Type.Number() }),
    positional: ["a", "b"],
    handler: ({ a, b }) => a + b,
  });
  registry.register({
    name: "Note",
    description: "records its params",
    params: Type.Object({ n: Type.Number() }),
    handler: (p) => {
      notes.push(p);
      return null;
    },
  });
  registerRpcBuiltins(registry);
  return { server: new RpcServer(registry), notes };
}

// ---------------------------------------------------------------------------------------------
// (a) their JSONRPCClient → our RpcPeer + RpcServer

interface ClientRig {
  client: JSONRPCClient;
  peer: RpcPeer;
  notes: unknown[];
  /** Every frame our side sent, decoded. */
  sent: unknown[];
}

function theirClientToUs(createID?: () => string | number): ClientRig {
  const { server, notes } = ourServer();
  const sent: unknown[] = [];
  const rig = {} as ClientRig;
  rig.peer = new RpcPeer({
    server,
    send: (frame) => {
      const text = JSON.stringify(frame);
      sent.push(JSON.parse(text));
      setImmediate(() => {
        rig.client.receive(JSON.parse(text) as JSONRPCResponse | JSONRPCResponse[]);
      });
    },
  });
  rig.client = new JSONRPCClient((payload: unknown) => {
    const text = JSON.stringify(payload);
    setImmediate(() => {
      rig.peer.receiveText(text);
    });
  }, createID);
  rig.notes = notes;
  rig.sent = sent;
  return rig;
}

test("their client calls our Sum with positional and with named params", async () => {
  const { client, sent } = theirClientToUs();
  assert.equal(await client.request("Sum", [2, 3]), 5);
  assert.equal(await client.request("Sum", { a: 2, b: 3 }), 5);
  assert.equal(await client.request("Sum", { b: 0.5, a: -1 }), -0.5);
  for (const frame of sent)
    assert.ok(isJSONRPCResponse(frame), `a valid JSON-RPC 2.0 response: ${JSON.stringify(frame)}`);
});

test("their client's call of an unknown method rejects with -32601", async () => {
  const { client } = theirClientToUs();
  await assert.rejects(Promise.resolve(client.request("No.Such", [1])), (e: unknown) => {
    assert.ok(e instanceof JSONRPCErrorException, String(e));
    assert.equal(e.code, -32601);
    return true;
  });
});

test("their client's call with invalid params rejects with -32602", async () => {
  const { client } = theirClientToUs();
  for (const params of [["x", 3], { a: 1 }, [1, 2, 3], { a: 1, b: "2" }]) {
    await assert.rejects(Promise.resolve(client.request("Sum", params)), (e: unknown) => {
      assert.ok(e instanceof JSONRPCErrorException, String(e));
      assert.equal(e.code, -32602, `params ${JSON.stringify(params)}`);
      return true;
    });
  }
});

test("their client's notification is served and never answered", async () => {
  const { client, notes, sent } = theirClientToUs();
  client.notify("Note", { n: 1 });
  client.notify("No.Such", { n: 2 });
  client.notify("Sum", ["not", "numbers"]);
  await drain();
  assert.deepEqual(notes, [{ n: 1 }]);
  assert.deepEqual(sent, [], "no frame answers a notification, not even an error");
});

test("their client's string and zero ids come back exactly", async () => {
  const ids: (string | number)[] = [0, "abc", "", "12"];
  let i = 0;
  const { client, sent } = theirClientToUs(() => ids[i++] ?? 99);
  for (let k = 0; k < ids.length; k++) assert.equal(await client.request("Sum", [k, 1]), k + 1);
  assert.deepEqual(
    sent.map((f) => (f as { id: unknown }).id),
    ids,
  );
});

test("their client's batch (requestAdvanced with an array) is answered in one array holding results and errors", async () => {
  const { client, notes, sent } = theirClientToUs();
  const responses = await client.requestAdvanced([
    createJSONRPCRequest(101, "Sum", [1, 2]),
    createJSONRPCNotification("Note", { n: 7 }),
    createJSONRPCRequest(102, "No.Such"),
    createJSONRPCRequest(103, "Sum", { a: "x", b: 1 }),
    createJSONRPCRequest(104, "RPC.List"),
  ]);
  assert.deepEqual(
    responses.map((r) => [r.id, r.error?.code ?? "ok"]),
    [
      [101, "ok"],
      [102, -32601],
      [103, -32602],
      [104, "ok"],
    ],
    "one answer per request, in order; none for the notification",
  );
  assert.deepEqual(responses[0], { jsonrpc: "2.0", id: 101, result: 3 });
  const list: unknown = responses.find((r) => r.id === 104)?.result;
  assert.ok(Array.isArray(list) && list.includes("Sum"));
  assert.deepEqual(notes, [{ n: 7 }]);
  assert.equal(sent.length, 1, "one frame: the batch answer");
  assert.ok(isJSONRPCResponses(sent[0]), "the batch answer is a valid array of JSON-RPC 2.0 responses");
});

// ---------------------------------------------------------------------------------------------
// (b) our RpcPeer → their JSONRPCServer

interface ServerRig {
  server: JSONRPCServer;
  peer: RpcPeer;
  /** Requests our peer sent, decoded. */
  requests: unknown[];
  problems: [PeerProblem, string][];
  /** What their server logged through its errorListener. */
  logged: string[];
}

function usToTheirServer(): ServerRig {
  const logged: string[] = [];
  const server = new JSONRPCServer({
    errorListener: (message) => {
      logged.push(message);
    },
  });
  server.addMethod("Sum", (p: unknown) => {
    if (Array.isArray(p)) return (p as number[]).reduce((x, y) => x + y, 0);
    const { a, b } = p as { a: number; b: number };
    return a + b;
  });
  const requests: unknown[] = [];
  const problems: [PeerProblem, string][] = [];
  const peer: RpcPeer = new RpcPeer({
    send: (frame) => {
      const text = JSON.stringify(frame);
      requests.push(JSON.parse(text));
      setImmediate(() => {
        void server.receiveJSON(text).then((response) => {
          if (response === null) return;
          const back = JSON.stringify(response);
          setImmediate(() => {
            peer.receiveText(back);
          });
        });
      });
    },
    onProblem: (problem, detail) => {
      problems.push([problem, detail]);
    },
  });
  return { server, peer, requests, problems, logged };
}

test("our peer calls their Sum with positional and named params, in frames their server accepts as requests", async () => {
  const { peer, requests, problems } = usToTheirServer();
  assert.equal(await peer.call("Sum", [2, 3]), 5);
  assert.equal(await peer.call("Sum", { a: 2, b: 3 }), 5);
  for (const r of requests)
    assert.ok(isJSONRPCRequest(r), `a valid JSON-RPC 2.0 request: ${JSON.stringify(r)}`);
  assert.deepEqual(problems, []);
  assert.equal(peer.pendingCount, 0);
});

test("their -32601 for an unknown method reaches our caller as RPC_REMOTE with that code", async () => {
  const { peer } = usToTheirServer();
  await assert.rejects(peer.call("No.Such", []), (e: unknown) => {
    assert.ok(isCcmError(e, "RPC_REMOTE"), String(e));
    assert.equal(e.rpcCode, -32601);
    assert.equal(e.message, "Method not found");
    return true;
  });
});

test("their JSONRPCErrorException with a custom code reaches our caller as RPC_REMOTE with code, message and data", async () => {
  const { server, peer } = usToTheirServer();
  server.addMethod("Fail", () => {
    throw new JSONRPCErrorException("custom failure", 4711, { detail: [1, true], nested: { s: "x" } });
  });
  await assert.rejects(peer.call("Fail", { any: 1 }), (e: unknown) => {
    assert.ok(isCcmError(e, "RPC_REMOTE"), String(e));
    assert.equal(e.rpcCode, 4711);
    assert.equal(e.message, "custom failure");
    assert.deepEqual(e.data, { detail: [1, true], nested: { s: "x" } });
    assert.equal(e.retryable, false);
    return true;
  });
});

test("a plain Error thrown in their method (a JSON-RPC 2.0 error response with code 0) rejects our call", async () => {
  // json-rpc-2.0 answers any non-JSONRPCErrorException failure with {"jsonrpc":"2.0","error":{"code":0,"message":...}}.
  // Mongoose OS's "code 0 is success" (an mg_rpc `"error":{"code":0}` without message) must not swallow it.
  const { server, peer } = usToTheirServer();
  server.addMethod("Broken", () => {
    throw new Error("disk on fire");
  });
  await assert.rejects(peer.call("Broken"), (e: unknown) => {
    assert.ok(isCcmError(e, "RPC_REMOTE"), `rejected with RPC_REMOTE, got ${String(e)}`);
    assert.equal(e.message, "disk on fire");
    assert.equal(e.rpcCode, 0);
    return true;
  });
});

test("our notification reaches their method and nothing comes back", async () => {
  const { server, peer, requests, problems } = usToTheirServer();
  const seen: unknown[] = [];
  server.addMethod("Note", (p: unknown) => {
    seen.push(p);
    return "ignored";
  });
  peer.notify("Note", { n: 1 });
  peer.notify("No.Such", { n: 2 });
  await drain();
  assert.deepEqual(seen, [{ n: 1 }]);
  assert.equal(requests.length, 2);
  for (const r of requests) {
    assert.ok(isJSONRPCRequest(r));
    assert.equal("id" in (r as object), false, "a notification has no id member at all");
  }
  assert.deepEqual(problems, []);
});

test("a call to their method that never resolves times out with RPC_TIMEOUT and leaves nothing pending", async () => {
  const { server, peer } = usToTheirServer();
  server.addMethod("Hang", () => new Promise<never>(() => undefined));
  const started = Date.now();
  await assert.rejects(peer.call("Hang", [], { timeoutMs: 60 }), (e: unknown) => {
    assert.ok(isCcmError(e, "RPC_TIMEOUT"), String(e));
    assert.equal(e.retryable, true);
    return true;
  });
  assert.ok(Date.now() - started >= 55, "not before the timeout");
  assert.equal(peer.pendingCount, 0);
});

test("their answer arriving after our timeout is reported as unmatched and does not disturb later calls", async () => {
  const { server, peer, problems } = usToTheirServer();
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => {
    server.addMethod(
      "Slow",
      () =>
        new Promise((r) => {
          timer = setTimeout(() => {
            r("late");
            resolve();
          }, 120);
        }),
    );
  });
  await assert.rejects(peer.call("Slow", [], { timeoutMs: 30 }), (e: unknown) =>
    isCcmError(e, "RPC_TIMEOUT"),
  );
  await done;
  clearTimeout(timer);
  await sleep(20);
  assert.deepEqual(
    problems.map(([p]) => p),
    ["unmatched-response"],
  );
  assert.equal(await peer.call("Sum", [1, 2]), 3);
});

test("concurrent calls answered out of order by their server each get their own result", async () => {
  const { server, peer } = usToTheirServer();
  server.addMethod(
    "Delay",
    (p: { v: number; ms: number }) =>
      new Promise((r) => {
        setTimeout(() => {
          r(p.v);
        }, p.ms);
      }),
  );
  const calls = Array.from({ length: 8 }, (_, i) => peer.call("Delay", { v: i, ms: 80 - i * 10 }));
  assert.deepEqual(await Promise.all(calls), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(peer.pendingCount, 0);
});

// ---------------------------------------------------------------------------------------------
// (c) their JSONRPCServerAndClient ⇄ our RpcPeer

interface BothRig {
  theirs: JSONRPCServerAndClient;
  peer: RpcPeer;
  notes: unknown[];
  /** Failures their side reported (invalid messages, handler errors). */
  errors: unknown[];
  problems: [PeerProblem, string][];
}

function bothWays(): BothRig {
  const { server, notes } = ourServer();
  const rig = { notes, errors: [], problems: [] } as unknown as BothRig;
  server.registry.register({
    name: "Relay",
    description: "asks the other side to Echo its params",
    params: Type.Object({ text: Type.String() }),
    handler: async (p) => ({ echoed: await rig.peer.call("Echo", p) }),
  });
  rig.peer = new RpcPeer({
    server,
    // 20 calls each way, each of ours nesting one of theirs: room for 40 at once.
    maxPending: 64,
    send: (frame) => {
      const text = JSON.stringify(frame);
      setImmediate(() => {
        rig.theirs.receiveAndSend(JSON.parse(text)).catch((e: unknown) => rig.errors.push(e));
      });
    },
    onProblem: (problem, detail) => {
      rig.problems.push([problem, detail]);
    },
  });
  const listener = (message: string, data: unknown): void => {
    rig.errors.push([message, data]);
  };
  rig.theirs = new JSONRPCServerAndClient(
    new JSONRPCServer({ errorListener: listener }),
    new JSONRPCClient((payload: unknown) => {
      const text = JSON.stringify(payload);
      setImmediate(() => {
        rig.peer.receiveText(text);
      });
    }),
    { errorListener: listener },
  );
  rig.theirs.addMethod("Echo", (p: unknown) => p);
  rig.theirs.addMethod("Twice", async (p: unknown) => 2 * Number(await rig.theirs.request("Sum", p)));
  return rig;
}

test("their JSONRPCServerAndClient and our peer call each other concurrently, with nested calls both ways", async () => {
  const { theirs, peer, errors, problems } = bothWays();
  const ours = Array.from({ length: 20 }, (_, i) => peer.call("Twice", { a: i, b: 1 }));
  const theirsCalls = Array.from({ length: 20 }, (_, i) => theirs.request("Relay", { text: `m${i}` }));
  const [r1, r2] = await Promise.all([Promise.all(ours), Promise.all(theirsCalls)]);
  assert.deepEqual(
    r1,
    Array.from({ length: 20 }, (_, i) => 2 * (i + 1)),
  );
  assert.deepEqual(
    r2,
    Array.from({ length: 20 }, (_, i) => ({ echoed: { text: `m${i}` } })),
  );
  assert.deepEqual(errors, []);
  assert.deepEqual(problems, []);
  assert.equal(peer.pendingCount, 0);
});

test("errors and notifications cross both ways between their JSONRPCServerAndClient and our peer", async () => {
  const { theirs, peer, notes, errors } = bothWays();
  theirs.addMethod("Fail", () => {
    throw new JSONRPCErrorException("nope", 42, { x: 1 });
  });
  const seen: unknown[] = [];
  theirs.addMethod("Seen", (p: unknown) => {
    seen.push(p);
    return null;
  });
  await assert.rejects(peer.call("Fail"), (e: unknown) => {
    assert.ok(isCcmError(e, "RPC_REMOTE"));
    assert.equal(e.rpcCode, 42);
    assert.deepEqual(e.data, { x: 1 });
    return true;
  });
  await assert.rejects(
    Promise.resolve(theirs.request("No.Such", [])),
    (e: unknown) => e instanceof JSONRPCErrorException && e.code === -32601,
  );
  await assert.rejects(
    Promise.resolve(theirs.request("Sum", ["a", "b"])),
    (e: unknown) => e instanceof JSONRPCErrorException && e.code === -32602,
  );
  theirs.notify("Note", { n: 5 });
  peer.notify("Seen", { from: "us" });
  await drain();
  assert.deepEqual(notes, [{ n: 5 }]);
  assert.deepEqual(seen, [{ from: "us" }]);
  // Their handler errors are logged through errorListener; nothing else may be.
  assert.deepEqual(
    errors.filter((e) => !(Array.isArray(e) && String(e[0]).startsWith("An unexpected error occurred"))),
    [],
  );
});

test("their JSONRPCServerAndClient's batch is answered with an array it accepts", async () => {
  const { theirs, errors } = bothWays();
  const responses = await theirs.requestAdvanced([
    createJSONRPCRequest(1001, "Sum", [1, 2]),
    createJSONRPCRequest(1002, "Sum", { a: 3, b: 4 }),
    createJSONRPCRequest(1003, "No.Such"),
  ]);
  assert.deepEqual(
    responses.map((r) => (r.result as unknown) ?? r.error?.code),
    [3, 7, -32601],
  );
  assert.deepEqual(errors, []);
});

test("their JSONRPCServerAndClient still gets the valid answers of a batch holding one invalid member", async () => {
  // The spec's mixed-batch example: json-rpc-2.0 accepts a batch answer only if every member is a
  // JSON-RPC 2.0 response (has "jsonrpc":"2.0"); one bare member makes it drop the whole array.
  const { theirs, errors } = bothWays();
  const invalid = { foo: "boo" } as unknown as JSONRPCRequest;
  const responses = await theirs
    .timeout(500)
    .requestAdvanced([
      createJSONRPCRequest(2001, "Sum", [1, 2]),
      invalid,
      createJSONRPCRequest(2002, "Sum", [3, 4]),
    ]);
  assert.deepEqual(
    responses.map((r) => ({ id: r.id, result: r.result as unknown, error: r.error?.message })),
    [
      { id: 2001, result: 3, error: undefined },
      { id: 2002, result: 7, error: undefined },
    ],
  );
  assert.deepEqual(errors, [], "their side found nothing invalid in our answer");
});
