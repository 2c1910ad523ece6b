/**
 * An mjson-style host MCU (cesanta/mjson; reference mos-protocols.md §10) on the far end of a pty
 * pair from a real Daemon. The host writes exactly what mjson prints: answers without jsonrpc, src
 * or dst (`{"id":12007,"result":5}\n`), notifications without id, a -32700 echo without id for what
 * it cannot parse; current mjson exports `rpc.list` (so RPC.List is -32601) and no Sys.Info, while
 * the 2018 header-only mjson exports Sys.Info and RPC.List.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import type { HostInfo } from "../../src/daemon/host-link.js";
import { isCcmError } from "../../src/errors.js";
import {
  MJSON_2018_SYS_INFO,
  MjsonError,
  MjsonHost,
  RawPort,
  Scope,
  cable,
  makeDaemon,
  sleep,
  waitFor,
  type MjsonHostOptions,
} from "./helpers.js";

const sum = (params: string): string => {
  const p = JSON.parse(params) as unknown;
  const [a, b] = Array.isArray(p) ? (p as number[]) : [(p as { a: number }).a, (p as { b: number }).b];
  return String(Number(a) + Number(b));
};

interface Rig {
  daemon: Daemon;
  host: MjsonHost;
  ready: Promise<HostInfo>;
}

async function setUp(t: TestContext, options: MjsonHostOptions): Promise<Rig> {
  const scope = new Scope(t);
  const pair = await cable(scope);
  const port = await RawPort.open(scope, pair.b);
  const host = new MjsonHost(port, options);
  const daemon = await makeDaemon(scope, pair.a);
  const ready = new Promise<HostInfo>((resolve) => daemon.host.once("ready", resolve));
  await daemon.start();
  return { daemon, host, ready };
}

/** Resolves with `p`, or rejects after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => {
    clearTimeout(timer);
  });
}

/** Waits until the host has received nothing new for `quietMs`; returns how many frames it had. */
async function settle(host: MjsonHost, quietMs = 300): Promise<number> {
  let n = host.received.length;
  for (;;) {
    await sleep(quietMs);
    if (host.received.length === n) return n;
    n = host.received.length;
  }
}

test("a current mjson host (rpc.list, no Sys.Info) brings the link to ready with its methods read from rpc.list", async (t) => {
  const { daemon, host, ready } = await setUp(t, { vintage: "current", exports: [["Sum", sum]] });
  const info = await within(ready, 5000, "the host link's ready event");

  assert.equal(daemon.host.state, "ready");
  assert.deepEqual(
    info,
    { sys_info: null, methods: ["Sum", "rpc.list"] },
    "methods as mjson lists them, newest first",
  );
  assert.deepEqual(daemon.host.info, info);

  const asked = host.requests.filter((r) => r.id !== undefined).map((r) => r.method);
  assert.deepEqual(
    asked.slice(0, 3),
    ["Sys.Info", "RPC.List", "rpc.list"],
    "Sys.Info, then RPC.List, then rpc.list",
  );
  assert.ok(
    host.written.some((w) =>
      /^\{"id":[^,]+,"error":\{"code":-32601,"message":"method not found"\}\}\n$/.test(w),
    ),
    "the host answered RPC.List with mjson's -32601",
  );
  // Frames to an mjson host are plain lines: no CRC suffix, no """ (it never used either).
  for (const line of host.received) assert.doesNotThrow(() => JSON.parse(line), `a plain JSON line: ${line}`);
});

test('host.call(\'Sum\', [2,3]) resolves 5 from mjson\'s bare {"id":N,"result":5} answer; mjson errors keep code, message and data', async (t) => {
  const { daemon, host, ready } = await setUp(t, {
    vintage: "current",
    exports: [
      ["Sum", sum],
      [
        "Fail",
        () => {
          throw new MjsonError(456, "qwerty", "[1,true]");
        },
      ],
    ],
  });
  await within(ready, 5000, "ready");

  assert.equal(await daemon.host.call("Sum", [2, 3]), 5);
  const req = host.requests.find((r) => r.method === "Sum");
  assert.deepEqual(req?.params, [2, 3]);
  assert.ok(
    host.written.some((w) => w === `{"id":${JSON.stringify(req.id)},"result":5}\n`),
    "the host's answer was mjson's bare frame",
  );
  assert.equal(await daemon.host.call("Sum", { a: 40, b: 2 }), 42);

  await assert.rejects(daemon.host.call("Nope", []), (e: unknown) => {
    assert.ok(isCcmError(e, "RPC_REMOTE"), String(e));
    assert.equal(e.rpcCode, -32601);
    assert.equal(e.message, "method not found");
    return true;
  });
  await assert.rejects(daemon.host.call("Fail"), (e: unknown) => {
    assert.ok(isCcmError(e, "RPC_REMOTE"), String(e));
    assert.equal(e.rpcCode, 456);
    assert.equal(e.message, "qwerty");
    assert.deepEqual(e.data, [1, true]);
    return true;
  });
});

test("the host's notifications (no id) are served and never answered, and its calls get mjson-readable answers", async (t) => {
  const { daemon, host, ready } = await setUp(t, { vintage: "current", exports: [["Sum", sum]] });
  await within(ready, 5000, "ready");
  const before = await settle(host);

  // shadow.ino's boot report, an unknown notification, and a known one: none is answered.
  await host.write('{"method":"Shadow.Report","params":{"on":false}}\n');
  await host.write('{"method":"RPC.Ping"}\n');
  assert.equal(await settle(host), before, "the daemon sent nothing back for notifications");

  // A call from the host, printed as mjson prints it: no jsonrpc, no src.
  await host.write('{"id":12007,"method":"RPC.Ping"}\n');
  const answer = await waitFor(
    () => host.responses.find((r) => r.includes("12007")),
    "the answer to id 12007",
  );
  const a = JSON.parse(answer) as Record<string, unknown>;
  assert.equal(a.id, 12007);
  assert.equal(a.src, daemon.deviceId);
  assert.equal("dst" in a, false, "no dst: the request had no src");
  assert.equal("jsonrpc" in a, false, "no jsonrpc member: the request had none");
  assert.ok(a.result !== undefined && a.error === undefined);
});

test("mjson's -32700 echo without id is not answered (no ping-pong) and the link keeps working", async (t) => {
  const { daemon, host, ready } = await setUp(t, { vintage: "current", exports: [["Sum", sum]] });
  await within(ready, 5000, "ready");
  const before = await settle(host);
  const unmatched = daemon.host.stats.unmatched_responses;

  // What current mjson prints for a line it cannot parse (`boo\n`).
  await host.write('{"error":{"code":-32700,"message":"boo\\n"}}\n');
  assert.equal(await settle(host), before, "the daemon did not answer the echo");
  assert.equal(
    daemon.host.stats.unmatched_responses,
    unmatched + 1,
    "the echo was counted as an unmatched response",
  );
  assert.equal(daemon.host.state, "ready");
  assert.equal(await daemon.host.call("Sum", [20, 22]), 42);
});

test("an old (2018) mjson host with Sys.Info and RPC.List: its info and methods are recorded, rpc.list is not asked", async (t) => {
  const { daemon, host, ready } = await setUp(t, {
    vintage: "2018",
    exports: [
      ["Shadow.Delta", () => "null"],
      ["Sum", sum],
    ],
  });
  const info = await within(ready, 5000, "ready");
  assert.deepEqual(info.sys_info, JSON.parse(MJSON_2018_SYS_INFO));
  assert.deepEqual(info.methods, ["Sum", "Shadow.Delta", "RPC.List", "Sys.Info"]);
  assert.deepEqual(daemon.host.info, info);
  assert.equal(
    host.requests.some((r) => r.method === "rpc.list"),
    false,
    "RPC.List answered, so rpc.list is not tried",
  );
  assert.equal(await daemon.host.call("Sum", [2, 3]), 5);
});

test("an old mjson host that echoes -32700 for the daemon's error answers (it knew only $.result) does not start a ping-pong", async (t) => {
  const { daemon, host, ready } = await setUp(t, { vintage: "2018", exports: [["Sum", sum]] });
  await within(ready, 5000, "ready");
  await settle(host);
  const writtenBefore = host.written.length;
  const unmatched = daemon.host.stats.unmatched_responses;

  // jsonrpc_call() of a method the CCM lacks: the daemon answers with an error, which this mjson
  // cannot tell from a request, so it echoes -32700 (no id); the daemon must leave that alone.
  await host.write('{"id":1,"method":"No.Such"}\n');
  const answer = await waitFor(
    () => host.received.find((r) => r.includes('"error"') && /"id":1[,}]/.test(r)),
    "the daemon's error answer",
  );
  const parsed = JSON.parse(answer) as { id?: unknown; src?: unknown; error?: { code?: unknown } };
  assert.equal(parsed.id, 1);
  assert.equal(parsed.src, daemon.deviceId);
  assert.equal(parsed.error?.code, -32601);
  await waitFor(
    () => host.written.slice(writtenBefore).find((w) => w.startsWith('{"error":{"code":-32700')),
    "the host's echo",
  );
  await settle(host, 400);
  const sinceAnswer = host.received.slice(host.received.indexOf(answer) + 1);
  assert.deepEqual(sinceAnswer, [], "nothing came after the daemon's error answer: the echo was left alone");
  assert.equal(
    daemon.host.stats.unmatched_responses,
    unmatched + 1,
    "the echo was counted as an unmatched response",
  );
  assert.equal(daemon.host.state, "ready");
  assert.equal(await daemon.host.call("Sum", [1, 1]), 2);
});
