import assert from "node:assert/strict";
import { test } from "node:test";
import { deaf } from "../../src/sim/behaviors.js";
import { runCli } from "../helpers/cli.js";
import { startSim } from "../helpers/daemon.js";
import { ptyPair } from "../helpers/socat.js";

test("ccm call prints a result as pretty JSON, or compact with --json, and exits 0", async (t) => {
  const pty = await ptyPair(t);
  await startSim(t, { port: pty.b, fwVersion: "9.9" });
  const sum = await runCli(["call", "--port", pty.a, "Sum", "[2,3]"]);
  assert.equal(sum.code, 0, sum.stderr);
  assert.equal(sum.stdout, "5\n");
  const info = await runCli(["--port", pty.a, "call", "Sys.Info"]);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /^\{\n {2}"fw_version": "9.9",\n/);
  const compact = await runCli(["--port", pty.a, "--json", "call", "Sum", '{"a":1,"b":2}']);
  assert.equal(compact.stdout, "3\n");
});

test("ccm call reports a device error with its code and message and exits 1", async (t) => {
  const pty = await ptyPair(t);
  await startSim(t, { port: pty.b });
  const r = await runCli(["call", "--port", pty.a, "No.Such.Method"]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /error -32601: method not found/);
});

test("ccm call says timeout and exits 3 when the device never answers", async (t) => {
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  sim.use(deaf());
  const r = await runCli(["call", "--port", pty.a, "--timeout", "300ms", "Sum", "[1,2]"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /timeout: Sum: no answer within 300 ms/);
});

test("ccm call refuses bad params, a missing port and an absent device with clear errors", async () => {
  const bad = await runCli(["call", "--port", "/dev/null", "Sum", "{oops"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /params are not valid JSON/);
  const noPort = await runCli(["call", "Sum"]);
  assert.equal(noPort.code, 2);
  assert.match(noPort.stderr, /give --port/);
  const absent = await runCli(["call", "--port", "/nonexistent/ttyUSB9", "Sum"]);
  assert.equal(absent.code, 3);
  assert.match(absent.stderr, /cannot open \/nonexistent\/ttyUSB9/);
  const badTimeout = await runCli(["call", "--port", "/dev/null", "--timeout", "soon", "Sum"]);
  assert.equal(badTimeout.code, 2);
  const badDevice = await runCli(["call", "--port", "mqtt://127.0.0.1:1/%E0%A4%A", "Sum"]);
  assert.equal(badDevice.code, 2, badDevice.stderr);
  assert.match(badDevice.stderr, /the device id in --port is not valid %-encoding/);
  const badUrl = await runCli(["call", "--port", "ws://[oops/rpc", "Sum"]);
  assert.equal(badUrl.code, 2, badUrl.stderr);
  assert.match(badUrl.stderr, /--port "ws:\/\/\[oops\/rpc" is not a valid URL/);
});
