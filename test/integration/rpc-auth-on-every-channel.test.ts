import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { connectRpc } from "../../src/channels/client/connect.js";
import { isCcmError } from "../../src/errors.js";
import { startBroker } from "../helpers/brokers.js";
import { until } from "../helpers/daemon.js";
import { aclFile, curl, htdigestFile, remoteRig } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";

test("curl --digest with a user made by Apache's htdigest is let in; a wrong password or none gets 401", async (t) => {
  const file = await htdigestFile(t, "myproduct", { joe: "secret", ann: "s3cr3t" });
  const { url } = await remoteRig(t, { rpc: { auth_file: file, auth_domain: "myproduct" } });
  const none = await curl([`${url}/rpc/Sys.GetInfo`]);
  assert.equal(none.status, 401);
  assert.match(
    none.headers["www-authenticate"] ?? "",
    /^Digest qop="auth", realm="myproduct", nonce="\d+", algorithm=MD5$/,
  );
  const wrong = await curl(["--digest", "-u", "joe:guess", `${url}/rpc/Sys.GetInfo`]);
  assert.equal(wrong.status, 401);
  const joe = await curl(["--digest", "-u", "joe:secret", `${url}/rpc/Sys.GetInfo`]);
  assert.equal(joe.status, 200);
  assert.equal((JSON.parse(joe.body) as { id: string }).id, "ccm_test");
  const ann = await curl(["--digest", "-u", "ann:s3cr3t", "-d", "[2,3]", `${url}/rpc/Sum`]);
  assert.equal(ann.body, "5\r\n", "a call forwarded to the host passes with credentials");
  const frame = await curl([
    "--digest",
    "-u",
    "joe:secret",
    "-d",
    '{"id":3,"method":"Sum","params":[1,2]}',
    `${url}/rpc`,
  ]);
  assert.equal((JSON.parse(frame.body) as { result: number }).result, 3, frame.body);
});

test("a replayed HTTP Digest header is refused: each nonce counts up and is used once", async (t) => {
  const file = await htdigestFile(t, "RPC", { joe: "secret" });
  const { url, daemon } = await remoteRig(t, { rpc: { auth_file: file } });
  const first = await fetch(`${url}/rpc/RPC.Ping`);
  const { answerHttpChallenge } = await import("../../src/rpc/auth-client.js");
  const authorization = answerHttpChallenge(
    first.headers.get("www-authenticate") ?? "",
    { user: "joe", pass: "secret" },
    "GET",
    "/rpc/RPC.Ping",
  );
  assert.ok(authorization !== undefined);
  const ok = await fetch(`${url}/rpc/RPC.Ping`, { headers: { Authorization: authorization } });
  assert.equal(ok.status, 200);
  const replay = await fetch(`${url}/rpc/RPC.Ping`, { headers: { Authorization: authorization } });
  assert.equal(replay.status, 401);
  assert.match(replay.headers.get("www-authenticate") ?? "", /stale=true/);
  assert.ok(daemon.auth.enabled);
});

test("a replayed in-frame auth is refused with a fresh challenge", async (t) => {
  const file = await htdigestFile(t, "RPC", { joe: "secret" });
  const { url } = await remoteRig(t, { rpc: { auth_file: file } });
  const ws = new WebSocket(`${url.replace("http", "ws")}/rpc`);
  t.after(() => {
    ws.terminate();
  });
  await new Promise((r) => ws.once("open", r));
  const replies: { id: number; result?: unknown; error?: { code: number; message: string } }[] = [];
  ws.on("message", (d: Buffer) => replies.push(JSON.parse(d.toString()) as (typeof replies)[number]));
  const send = async (frame: object): Promise<(typeof replies)[number]> => {
    const n = replies.length;
    ws.send(JSON.stringify(frame));
    await until(() => replies.length > n, "an answer");
    return replies[n]!;
  };
  const challenge = await send({ id: 1, src: "me", method: "Sum", params: [1, 2] });
  assert.equal(challenge.error?.code, 401);
  const { answerFrameChallenge } = await import("../../src/rpc/auth-client.js");
  const auth = answerFrameChallenge(challenge.error.message, { user: "joe", pass: "secret" });
  const signed = { id: 2, src: "me", method: "Sum", params: [1, 2], auth };
  assert.equal((await send(signed)).result, 3);
  const replayed = await send(signed);
  assert.equal(replayed.error?.code, 401, "the same auth twice is refused");
  assert.equal((JSON.parse(replayed.error.message) as { auth_type: string }).auth_type, "digest");
});

test("a caller who got its nonce before a flood of 12,000 unauthenticated calls still logs in with it", async (t) => {
  const file = await htdigestFile(t, "RPC", { joe: "secret" });
  const { url } = await remoteRig(t, { rpc: { auth_file: file } });
  const open = async () => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/rpc`);
    t.after(() => {
      ws.terminate();
    });
    await new Promise((r) => ws.once("open", r));
    const replies: { id: number; result?: unknown; error?: { code: number; message: string } }[] = [];
    ws.on("message", (d: Buffer) => replies.push(JSON.parse(d.toString()) as (typeof replies)[number]));
    return { ws, replies };
  };
  const joe = await open();
  joe.ws.send(JSON.stringify({ id: 1, src: "joe", method: "Sum", params: [1, 2] }));
  await until(() => joe.replies.length === 1, "joe's challenge");
  const challenge = joe.replies[0]!.error;
  assert.equal(challenge?.code, 401);
  const flood = await open();
  const n = 12_000;
  for (let i = 0; i < n; i++) flood.ws.send(JSON.stringify({ id: i, src: "flood", method: "RPC.Ping" }));
  await until(() => flood.replies.length === n, "every flood call challenged", 60_000);
  assert.ok(flood.replies.every((r) => r.error?.code === 401));
  const { answerFrameChallenge } = await import("../../src/rpc/auth-client.js");
  const auth = answerFrameChallenge(challenge.message, { user: "joe", pass: "secret" });
  joe.ws.send(JSON.stringify({ id: 2, src: "joe", method: "Sum", params: [1, 2], auth }));
  await until(() => joe.replies.length === 2, "joe's answer");
  assert.equal(joe.replies[1]!.result, 3, JSON.stringify(joe.replies[1]));
});

test("failed logins from one source are refused with 429 for a while, on HTTP and in frames", async (t) => {
  const file = await htdigestFile(t, "RPC", { joe: "secret" });
  const { url } = await remoteRig(t, { rpc: { auth_file: file } });
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++)
    statuses.push((await curl(["--digest", "-u", "joe:guess", `${url}/rpc/RPC.Ping`])).status);
  assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
  assert.equal(statuses[5], 429);
  const right = await curl(["--digest", "-u", "joe:secret", `${url}/rpc/RPC.Ping`]);
  assert.equal(right.status, 429, "even the right password waits out the lockout");

  // In frames: a WebSocket caller answering each challenge with the wrong password.
  const other = await remoteRig(t, { rpc: { auth_file: file } });
  const ws = `${other.url.replace("http", "ws")}/rpc`;
  const inFrame = async (pass: string): Promise<number> => {
    const c = await connectRpc(ws, { timeoutMs: 3000, baudRate: 115200, creds: { user: "joe", pass } });
    try {
      await c.call("RPC.Ping");
      return 200;
    } catch (e) {
      return isCcmError(e, "RPC_REMOTE") ? e.rpcCode : -1;
    } finally {
      await c.close();
    }
  };
  const codes: number[] = [];
  for (let i = 0; i < 6; i++) codes.push(await inFrame("guess"));
  assert.deepEqual(codes, [401, 401, 401, 401, 401, 429]);
  assert.equal(await inFrame("secret"), 429, "in frames too, the right password waits");
});

test("over MQTT a brute force on a user name is refused with 429 whatever src it gives, and other users still log in", async (t) => {
  const file = await htdigestFile(t, "RPC", { joe: "secret", ann: "s3cr3t" });
  const broker = await startBroker(t, "embedded");
  const { daemon } = await remoteRig(t, {
    rpc: { auth_file: file },
    mqtt: { enable: true, server: broker.server },
  });
  await until(() => daemon.mqtt?.connected === true, "MQTT up");
  // Every connection is a new MQTT client with its own src (<device>/rpc-resp/<client id>).
  const callAs = async (user: string, pass: string): Promise<number> => {
    const c = await connectRpc(`mqtt://${broker.server}/ccm_test`, {
      timeoutMs: 3000,
      baudRate: 115200,
      creds: { user, pass },
    });
    try {
      await c.call("RPC.Ping");
      return 200;
    } catch (e) {
      return isCcmError(e, "RPC_REMOTE") ? e.rpcCode : -1;
    } finally {
      await c.close();
    }
  };
  const codes: number[] = [];
  for (let i = 0; i < 6; i++) codes.push(await callAs("joe", "guess"));
  assert.deepEqual(codes, [401, 401, 401, 401, 401, 429]);
  assert.equal(await callAs("joe", "secret"), 429, "a fresh src does not lift joe's lockout");
  assert.equal(await callAs("ann", "s3cr3t"), 200, "ann is not locked out by joe's failures");
});

test("an ACL opens a method on one channel type and closes it on another", async (t) => {
  const users = await htdigestFile(t, "RPC", { joe: "secret", eve: "evil" });
  const acl = await aclFile(t, [
    { method: "RPC.Ping", acl: "*" },
    { method: "Sum", ch_type: "HTTP", acl: "-*" },
    { method: "*", acl: "+joe,-eve" },
  ]);
  const broker = await startBroker(t, "embedded");
  const { url, daemon } = await remoteRig(t, {
    rpc: { auth_file: users, acl_file: acl },
    mqtt: { enable: true, server: broker.server },
  });
  await until(() => daemon.mqtt?.connected === true, "MQTT up");
  const ports = {
    HTTP: `${url}/rpc`,
    WS_in: `${url.replace("http", "ws")}/rpc`,
    MQTT: `mqtt://${broker.server}/ccm_test`,
  };
  for (const [ch, port] of Object.entries(ports)) {
    const anon = await connectRpc(port, { timeoutMs: 3000, baudRate: 115200 });
    const joe = await connectRpc(port, {
      timeoutMs: 3000,
      baudRate: 115200,
      creds: { user: "joe", pass: "secret" },
    });
    const eve = await connectRpc(port, {
      timeoutMs: 3000,
      baudRate: 115200,
      creds: { user: "eve", pass: "evil" },
    });
    t.after(async () => {
      for (const c of [anon, joe, eve]) await c.close();
    });
    assert.ok(await anon.call("RPC.Ping"), `${ch}: RPC.Ping is open to all`);
    if (ch === "HTTP") {
      await assert.rejects(
        joe.call("Sum", [1, 2]),
        (e) => isCcmError(e) && e.rpcCode === 403,
        "Sum is closed on HTTP",
      );
    } else {
      assert.equal(await joe.call("Sum", [1, 2]), 3, `${ch}: joe may call Sum`);
    }
    await assert.rejects(
      eve.call("Sys.GetInfo"),
      (e) => isCcmError(e) && e.rpcCode === 403,
      `${ch}: eve may not`,
    );
  }
});

test("with users configured, the host's own link and the management UART still need no login", async (t) => {
  const file = await htdigestFile(t, "RPC", { joe: "secret" });
  const mgmt = await ptyPair(t);
  const { sim, daemon } = await remoteRig(t, { rpc: { auth_file: file, uart: { port: mgmt.a } } });
  const info = (await sim.call("Sys.GetInfo", undefined, 3000)) as { id: string };
  assert.equal(info.id, "ccm_test");
  await until(() => daemon.rpcUart?.link.isUp === true, "management UART up");
  const uart = await connectRpc(mgmt.b, { timeoutMs: 3000, baudRate: 115200 });
  t.after(() => uart.close());
  assert.equal(((await uart.call("Sys.GetInfo")) as { id: string }).id, "ccm_test");
  assert.equal(await uart.call("Sum", [1, 2]), 3, "forwarded to the host without a login too");
  const ws = await connectRpc(`${daemon.httpUrl?.replace("http", "ws") ?? ""}/rpc`, {
    timeoutMs: 3000,
    baudRate: 115200,
  });
  t.after(() => ws.close());
  await assert.rejects(
    ws.call("Sys.GetInfo"),
    (e) => isCcmError(e, "RPC_REMOTE") && e.rpcCode === 401,
    "while a network channel still asks for one",
  );
});
