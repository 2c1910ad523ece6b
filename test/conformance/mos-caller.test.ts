/**
 * A mos-style caller (mongoose-os/mos common/mgrpc/codec serial.go + stream.go) talking to a real
 * Daemon over a pty pair: handshake `"""\x04"""\n\n`, frames `\n"""{json}<crc32>"""\n` written in
 * 16-byte chunks 5 ms apart, 13-digit ids, `"src":"mos"`. The daemon must answer as a Mongoose OS
 * device does (reference mos-protocols.md §1.2, §2.1).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { crc32Hex } from "../../src/framing/line-framer.js";
import type { Daemon } from "../../src/daemon/daemon.js";
import { startDaemon, startSim } from "../helpers/daemon.js";
import {
  EOF,
  MosCaller,
  RawPort,
  Scope,
  TRIPLE,
  cable,
  makeDaemon,
  mosFrameBytes,
  mosId,
  mosRequest,
  sleep,
  waitFor,
  type MosFrame,
} from "./helpers.js";

async function setUp(t: import("node:test").TestContext): Promise<{ daemon: Daemon; mos: MosCaller }> {
  const scope = new Scope(t);
  const pair = await cable(scope);
  const port = await RawPort.open(scope, pair.b);
  const mos = new MosCaller(port);
  const daemon = await makeDaemon(scope, pair.a);
  await daemon.start();
  await waitFor(() => daemon.host.state !== "down", "the daemon's host port to open");
  return { daemon, mos };
}

/** Asserts `reply` is framed exactly as a device frames it for a CRC-using compat-mode peer. */
function assertDeviceFraming(mos: MosCaller, reply: MosFrame): void {
  assert.equal(reply.open, TRIPLE, 'the reply opens with """');
  assert.equal(reply.close, TRIPLE, 'the reply closes with """');
  assert.match(
    reply.meta,
    /^[0-9a-f]{8}$/,
    "the reply carries an 8-digit lowercase hex CRC and nothing else",
  );
  assert.equal(reply.crc, crc32Hex(reply.payload), "the CRC is CRC-32 (IEEE) of the JSON bytes");
  assert.equal(reply.crcOk, true);
  const exact = `\n${TRIPLE}${reply.payload}${reply.crc ?? ""}${TRIPLE}\n`;
  assert.ok(
    mos.port.text.includes(exact),
    `the reply is on the wire as \\n"""json+crc"""\\n: ${JSON.stringify(exact)}`,
  );
}

/** mos closes the connection on a CRC mismatch: no frame the daemon sends may carry a bad one. */
function assertNoBadCrc(mos: MosCaller): void {
  const bad = mos.frames.filter((f) => f.crcOk === false);
  assert.deepEqual(bad, [], "no frame from the daemon fails mos's CRC check");
}

test("the CRC helper agrees with the reference check vectors (rpc-uart source comment, mos example frame)", () => {
  assert.equal(crc32Hex('{"method":"Sys.GetInfo"}'), "010a4ff9");
  assert.equal(crc32Hex('{"src":"mos","id":1458390294012,"method":"Sys.GetInfo"}'), "24d24454");
  assert.equal(
    mosFrameBytes(mosRequest(1458390294012, "Sys.GetInfo")),
    '\n"""{"src":"mos","id":1458390294012,"method":"Sys.GetInfo"}24d24454"""\n',
  );
});

test('mos\'s handshake """\\x04"""\\n\\n is echoed as """\\x04""" and its CRC-framed Sys.GetInfo is answered like a device answers', async (t) => {
  const { daemon, mos } = await setUp(t);
  const { id, reply } = await mos.call("Sys.GetInfo");

  assert.ok(mos.echoes >= 1, "the daemon echoed the handshake");
  assert.ok(mos.port.text.includes(`${TRIPLE}${EOF}${TRIPLE}`), 'the echo is the bytes """\\x04"""');
  assert.ok(id >= 2 ** 40 && id < 2 ** 41 && String(id).length === 13, "the caller used a 13-digit mos id");

  const r = reply.value;
  assert.ok(r !== undefined, "the reply is JSON");
  assert.equal(typeof r.id, "number", "the id comes back as a number (mos decodes ID as int64)");
  assert.equal(r.id, id);
  assert.equal(r.src, daemon.deviceId, "src is the daemon's device id");
  assert.equal(r.dst, "mos", "dst is the caller's src");
  assert.equal("jsonrpc" in r, false, "no jsonrpc member: a device never emits one and mos did not send one");
  assert.equal(r.error, undefined);
  const result = r.result as { id?: unknown; app?: unknown };
  assert.equal(result.id, daemon.deviceId);
  assert.equal(result.app, "ccm");
  assertDeviceFraming(mos, reply);
  assertNoBadCrc(mos);
});

test("RPC.List over mos framing lists the daemon's methods, and tag is echoed verbatim", async (t) => {
  const { daemon, mos } = await setUp(t);
  const tag = 'mos tag/1 "quoted"';
  const { id, reply } = await mos.call("RPC.List", { tag });
  const r = reply.value;
  assert.ok(r !== undefined);
  assert.equal(r.id, id);
  assert.equal(r.tag, tag, "tag echoed verbatim");
  assert.equal(r.src, daemon.deviceId);
  assert.equal(r.dst, "mos");
  const names = r.result as string[];
  assert.ok(Array.isArray(names));
  for (const n of ["RPC.Describe", "RPC.List", "RPC.Ping", "Sys.GetInfo"])
    assert.ok(names.includes(n), `RPC.List lists ${n}`);
  assert.deepEqual(names, [...names].sort(), "sorted");
  assertDeviceFraming(mos, reply);

  // A second call on the same connection: the handshake is repeated before every frame (chunked mode).
  const echoesBefore = mos.echoes;
  const second = await mos.call("RPC.List", { tag: "t2" });
  assert.ok(mos.echoes > echoesBefore, "the repeated handshake was echoed again");
  assert.equal(second.reply.value?.tag, "t2");
  assertDeviceFraming(mos, second.reply);
  assertNoBadCrc(mos);
});

test("mos's deprecated args (--mgrpc-compat-args) are served as params", async (t) => {
  const { mos } = await setUp(t);
  const { id, reply } = await mos.call("RPC.Describe", { args: { name: "Sys.GetInfo" } });
  const r = reply.value;
  assert.ok(r !== undefined);
  assert.equal(r.id, id);
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  assert.equal((r.result as { name?: unknown }).name, "Sys.GetInfo");
  assertDeviceFraming(mos, reply);
});

test("an unknown method from mos gets an error reply with a non-zero code, framed for mos", async (t) => {
  const { mos } = await setUp(t);
  const { id, reply } = await mos.call("No.Such.Method");
  const r = reply.value;
  assert.ok(r !== undefined);
  assert.equal(r.id, id);
  assert.equal(r.dst, "mos");
  const error = r.error as { code?: unknown; message?: unknown } | undefined;
  assert.equal(typeof error?.code, "number");
  assert.notEqual(error?.code, 0, "mos treats status 0 as success");
  assert.equal(typeof error?.message, "string");
  assert.equal(r.result, undefined);
  assertDeviceFraming(mos, reply);
});

test("a mos frame with a wrong CRC is not served, and the next good frame is", async (t) => {
  const { daemon, mos } = await setUp(t);
  // Teach the daemon CRC and """ first, as a real session would.
  await mos.call("RPC.Ping");

  const badId = mosId();
  const badJson = mosRequest(badId, "Sys.GetInfo");
  const good = crc32Hex(badJson);
  const wrong = good === "deadbeef" ? "feedface" : "deadbeef";
  await mos.send(mosFrameBytes(badJson, wrong));
  await waitFor(() => daemon.host.stats.crc_errors > 0, "the daemon to count the CRC error");

  const goodId = mosId();
  await mos.send(mosFrameBytes(mosRequest(goodId, "Sys.GetInfo")));
  const reply = await mos.response(goodId);
  assert.equal(reply.value?.src, daemon.deviceId);
  assertDeviceFraming(mos, reply);

  // The serial line is ordered: had the bad frame been served, its answer would have come first.
  await sleep(100);
  const served = mos.frames.filter((f) => f.value?.id === badId);
  assert.deepEqual(served, [], "nothing answers the frame whose CRC did not match");
  assert.equal(daemon.host.stats.crc_errors, 1);
  assertNoBadCrc(mos);
});

test("mos on the management UART reaches a method only the host exports, forwarded and framed for mos", async (t) => {
  const scope = new Scope(t);
  const hostCable = await cable(scope);
  const mgmtCable = await cable(scope);
  await startSim(t, { port: hostCable.b });
  const daemon = await startDaemon(t, hostCable.a, {}, { rpc: { uart: { port: mgmtCable.a } } });
  await waitFor(() => daemon.host.state === "ready", "the host to be ready");
  const mos = new MosCaller(await RawPort.open(scope, mgmtCable.b));

  const { id, reply } = await mos.call("Sum", { params: { a: 20, b: 22 } });
  const r = reply.value;
  assert.ok(r !== undefined);
  assert.equal(r.id, id, "the caller's 13-digit id, not the id the CCM used towards the host");
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  assert.equal(r.result, 42);
  assert.equal(r.dst, "mos");
  assertDeviceFraming(mos, reply);
  assertNoBadCrc(mos);
});
