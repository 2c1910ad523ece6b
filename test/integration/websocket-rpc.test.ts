import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { answerHttpChallenge } from "../../src/rpc/auth-client.js";
import { curl, htdigestFile, remoteRig } from "../helpers/remote.js";

/** Opens a WebSocket; resolves with it and the subprotocol the server chose. */
function open(
  url: string,
  protocols: string[] = [],
  headers: Record<string, string> = {},
): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, { headers });
  return new Promise((resolve, reject) => {
    ws.once("open", () => {
      resolve(ws);
    });
    ws.once("unexpected-response", (_req, res) => {
      reject(new Error(`HTTP ${res.statusCode ?? 0}`));
    });
    ws.once("error", reject);
  });
}

function call(ws: WebSocket, frame: object): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    ws.once("message", (d: Buffer) => {
      resolve(JSON.parse(d.toString()) as Record<string, unknown>);
    });
    ws.send(JSON.stringify(frame));
  });
}

test("the caller's subprotocol is echoed: clubby.cesanta.com as mos offers it, json-rpc as devices do", async (t) => {
  const { url } = await remoteRig(t);
  const ws = `${url.replace("http", "ws")}/rpc`;
  for (const protocol of ["clubby.cesanta.com", "json-rpc"]) {
    const socket = await open(ws, [protocol]);
    t.after(() => {
      socket.terminate();
    });
    assert.equal(socket.protocol, protocol);
    const reply = await call(socket, { id: 1, src: "mos", method: "Sum", params: [2, 3] });
    assert.deepEqual(reply, { id: 1, src: "ccm_test", dst: "mos", result: 5 });
  }
  const bare = await open(ws);
  t.after(() => {
    bare.terminate();
  });
  assert.equal(bare.protocol, "");
  assert.equal((await call(bare, { id: 2, method: "RPC.Ping" })).id, 2);
});

test("a message over rpc.max_frame closes that connection with 1009; other connections keep working", async (t) => {
  const { url } = await remoteRig(t, { rpc: { max_frame: 1024 } });
  const ws = `${url.replace("http", "ws")}/rpc`;
  const big = await open(ws);
  const other = await open(ws);
  t.after(() => {
    big.terminate();
    other.terminate();
  });
  const closed = new Promise<number>((resolve) => big.once("close", resolve));
  big.send(JSON.stringify({ id: 1, method: "Sum", params: { pad: "x".repeat(4096) } }));
  assert.equal(await closed, 1009);
  assert.equal((await call(other, { id: 2, method: "Sum", params: [1, 1] })).result, 2);
});

test("with rpc.ws.enable=false an upgrade gets 503 'WS is disabled' and HTTP keeps serving", async (t) => {
  const { url } = await remoteRig(t, { rpc: { ws: { enable: false } } });
  await assert.rejects(open(`${url.replace("http", "ws")}/rpc`), /HTTP 503/);
  assert.equal((await curl(["-d", "[1,2]", `${url}/rpc/Sum`])).body, "3\r\n");
});

test("HTTP Digest on the upgrade request logs the whole connection in; a wrong one is refused with 401", async (t) => {
  const file = await htdigestFile(t, "RPC", { joe: "secret" });
  const { url } = await remoteRig(t, { rpc: { auth_file: file } });
  const ws = `${url.replace("http", "ws")}/rpc`;
  const challenge = (await fetch(`${url}/rpc/RPC.Ping`)).headers.get("www-authenticate") ?? "";
  const good = answerHttpChallenge(challenge, { user: "joe", pass: "secret" }, "GET", "/rpc") ?? "";
  const socket = await open(ws, [], { Authorization: good });
  t.after(() => {
    socket.terminate();
  });
  assert.equal((await call(socket, { id: 1, method: "Sum", params: [2, 2] })).result, 4);
  assert.equal((await call(socket, { id: 2, method: "Sum", params: [3, 3] })).result, 6, "still logged in");
  const challenge2 = (await fetch(`${url}/rpc/RPC.Ping`)).headers.get("www-authenticate") ?? "";
  const bad = answerHttpChallenge(challenge2, { user: "joe", pass: "nope" }, "GET", "/rpc") ?? "";
  await assert.rejects(open(ws, [], { Authorization: bad }), /HTTP 401/);
  const anonymous = await open(ws);
  t.after(() => {
    anonymous.terminate();
  });
  const refused = await call(anonymous, { id: 3, src: "x", method: "Sum", params: [1, 1] });
  assert.equal(
    (refused.error as { code: number }).code,
    401,
    "without a login, frames get the in-frame challenge",
  );
});

test("an upgrade on another path is refused with 404", async (t) => {
  const { url } = await remoteRig(t);
  await assert.rejects(open(`${url.replace("http", "ws")}/other`), /HTTP 404/);
});
