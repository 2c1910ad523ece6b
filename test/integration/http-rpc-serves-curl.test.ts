import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import Type from "typebox";
import { deaf } from "../../src/sim/behaviors.js";
import { curl, remoteRig } from "../helpers/remote.js";

test("POST /rpc with a whole frame answers the whole frame: id, src, dst and tag as Mongoose OS sends them", async (t) => {
  const { url } = await remoteRig(t);
  const r = await curl(["-d", '{"id":7,"src":"me","tag":"t1","method":"Sum","params":[2,3]}', `${url}/rpc`]);
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-type"], "application/json");
  assert.deepEqual(JSON.parse(r.body), { id: 7, src: "ccm_test", dst: "me", tag: "t1", result: 5 });
  assert.ok(r.body.endsWith("\r\n"), "the body ends with CRLF, as Mongoose OS sends it");
});

test("POST /rpc answers an RPC error with 200 and the error frame, and a batch with a batch", async (t) => {
  const { url } = await remoteRig(t);
  const err = await curl(["-d", '{"id":1,"method":"Nope"}', `${url}/rpc`]);
  assert.equal(err.status, 200);
  assert.deepEqual(JSON.parse(err.body), {
    id: 1,
    src: "ccm_test",
    error: { code: -32601, message: "method not found" },
  });
  const batch = await curl([
    "-d",
    '[{"jsonrpc":"2.0","id":1,"method":"Sum","params":[1,1]},{"jsonrpc":"2.0","id":2,"method":"RPC.Ping"}]',
    `${url}/rpc`,
  ]);
  const replies = JSON.parse(batch.body) as { id: number; result: unknown }[];
  assert.deepEqual(
    replies.map((x) => x.id),
    [1, 2],
  );
  assert.equal(replies[0]?.result, 2);
});

test("POST /rpc with a body that is not JSON gets 400 and a -32700 frame; a notification gets 204", async (t) => {
  const { url, sim } = await remoteRig(t);
  const bad = await curl(["-d", "{not json", `${url}/rpc`]);
  assert.equal(bad.status, 400);
  assert.equal((JSON.parse(bad.body) as { error: { code: number } }).error.code, -32700);
  const note = await curl(["-d", '{"method":"Shadow.Delta","params":{"on":true}}', `${url}/rpc`]);
  assert.equal(note.status, 204);
  assert.equal(note.body, "");
  const deadline = Date.now() + 5000;
  while (!sim.state.on && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(sim.state.on, true, "the notification reached the host");
});

test("POST /rpc/Method takes params as the body and answers the result alone", async (t) => {
  const { url } = await remoteRig(t);
  const r = await curl(["-d", '{"a":40,"b":2}', `${url}/rpc/Sum`]);
  assert.equal(r.status, 200);
  assert.equal(r.body, "42\r\n");
  const info = await curl([`${url}/rpc/Sys.GetInfo`]);
  assert.equal((JSON.parse(info.body) as { id: string }).id, "ccm_test");
});

test("GET /rpc/Method?a=1&b=2 turns the query into params as Mongoose OS does, strings included", async (t) => {
  const { url, daemon } = await remoteRig(t);
  daemon.registry.register({
    name: "Test.Echo",
    description: "Returns its params.",
    params: Type.Record(Type.String(), Type.Unknown()),
    handler: (p) => p,
  });
  const r = await curl(["-g", `${url}/rpc/Test.Echo?pin=2&on=true&ssid=%22My%20Net%22&name=home&list=[1,2]`]);
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { pin: 2, on: true, ssid: "My Net", name: "home", list: [1, 2] });
  assert.equal((await curl([`${url}/rpc/Sum?a=20&b=22`])).body, "42\r\n");
});

test("REST errors carry the error object and a status: 404 unknown, 400 bad params, 504 host timeout", async (t) => {
  const { url, sim } = await remoteRig(t, {}, { timeout_ms: 300 });
  const missing = await curl([`${url}/rpc/No.Such`]);
  assert.equal(missing.status, 404);
  assert.equal((JSON.parse(missing.body) as { code: number }).code, -32601);
  const bad = await curl(["-d", '{"name":5}', `${url}/rpc/RPC.Describe`]);
  assert.equal(bad.status, 400);
  assert.match((JSON.parse(bad.body) as { message: string }).message, /name/);
  const notJson = await curl(["-d", "{x", `${url}/rpc/Sum`]);
  assert.equal(notJson.status, 400);
  sim.use(deaf((text) => text.includes('"Sum"')));
  const slow = await curl(["-d", "[1,2]", `${url}/rpc/Sum`]);
  assert.equal(slow.status, 504);
  assert.equal((JSON.parse(slow.body) as { code: number }).code, -32001);
});

test("a page on another origin can call: preflight and answers carry CORS headers", async (t) => {
  const { url } = await remoteRig(t);
  const pre = await curl([
    "-X",
    "OPTIONS",
    "-H",
    "Origin: http://example.test",
    "-H",
    "Access-Control-Request-Method: POST",
    "-H",
    "Access-Control-Request-Headers: content-type, authorization",
    `${url}/rpc/Sum`,
  ]);
  assert.equal(pre.status, 200);
  assert.equal(pre.headers["access-control-allow-origin"], "http://example.test");
  assert.match(pre.headers["access-control-allow-methods"] ?? "", /POST/);
  assert.equal(pre.headers["access-control-allow-headers"], "content-type, authorization");
  const r = await curl(["-H", "Origin: http://example.test", "-d", "[1,2]", `${url}/rpc/Sum`]);
  assert.equal(r.headers["access-control-allow-origin"], "http://example.test");
  assert.equal(r.body, "3\r\n");
});

test("a body over rpc.max_frame is refused with 413 and the server keeps serving", async (t) => {
  const { url } = await remoteRig(t, { rpc: { max_frame: 1024 } });
  const big = JSON.stringify({ id: 1, method: "Sum", params: { a: 1, b: 2, pad: "x".repeat(4096) } });
  const r = await curl(["-d", big, `${url}/rpc`]);
  assert.equal(r.status, 413);
  assert.match(r.body, /exceeds 1024 bytes/);
  const chunked = await curl(["-H", "Transfer-Encoding: chunked", "-d", big, `${url}/rpc`]);
  assert.equal(chunked.status, 413, "a body without Content-Length is counted as it arrives");
  assert.equal((await curl(["-d", "[1,2]", `${url}/rpc/Sum`])).body, "3\r\n");
});

test("a stalled client holding a half-sent request does not delay other callers", async (t) => {
  const { url } = await remoteRig(t);
  const { port } = new URL(url);
  const stalled = Array.from({ length: 5 }, () => net.connect(Number(port), "127.0.0.1"));
  t.after(() => {
    for (const s of stalled) s.destroy();
  });
  for (const s of stalled) {
    await new Promise((r) => s.once("connect", r));
    s.write('POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"id":1,');
  }
  const started = Date.now();
  const answers = await Promise.all(
    Array.from({ length: 10 }, (_, i) => curl(["-d", `[${i},1]`, `${url}/rpc/Sum`])),
  );
  assert.deepEqual(
    answers.map((a) => a.body),
    Array.from({ length: 10 }, (_, i) => `${i + 1}\r\n`),
  );
  assert.ok(Date.now() - started < 5000, "the other callers were answered while the stalled ones waited");
});

test("paths outside /rpc get 404", async (t) => {
  const { url } = await remoteRig(t);
  assert.equal((await curl([`${url}/nothing`])).status, 404);
});

test("a path or query that is not valid %-encoding gets 400 and the daemon keeps serving", async (t) => {
  const { url } = await remoteRig(t);
  const path = await curl([`${url}/rpc/%E0%A4%A`]);
  assert.equal(path.status, 400);
  assert.deepEqual(JSON.parse(path.body), {
    code: -32600,
    message: "the method in the path is not valid %-encoding",
  });
  const query = await curl([`${url}/rpc/Sum?a=%E0%A4%A&b=1`]);
  assert.equal(query.status, 400, "a query value that does not decode is a bad param, not a crash");
  assert.equal((await curl([`${url}/rpc/Sum?a=20&b=22`])).body, "42\r\n");
});
