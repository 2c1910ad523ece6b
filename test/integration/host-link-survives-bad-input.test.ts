import assert from "node:assert/strict";
import { test } from "node:test";
import { SerialPortTransport } from "../../src/transports/serial-port.js";
import { ptyPair } from "../helpers/socat.js";
import { startDaemon, until } from "../helpers/daemon.js";

/** The host's end of the UART as raw bytes, so the test can send anything. */
async function rawHost(t: import("node:test").TestContext, path: string) {
  const port = new SerialPortTransport(path, { baudRate: 115200 });
  await port.open();
  t.after(() => port.close());
  let received = "";
  port.on("data", (d) => (received += d.toString("utf8")));
  return {
    write: (data: string | Buffer) => port.write(data),
    lines: () => received.split("\n").filter((l) => l.trim() !== ""),
    /** Responses the CCM sent (its own calls to the host left out). */
    frames: () =>
      received
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((f) => !("method" in f)),
  };
}

test("garbage, invalid UTF-8, NUL bytes and log lines do not stop the next frame from being served", async (t) => {
  const pty = await ptyPair(t);
  const daemon = await startDaemon(t, pty.a);
  const host = await rawHost(t, pty.b);
  await until(() => daemon.host.state === "up", "link up");
  await host.write(Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x0a]));
  await host.write("I (42) app: booting\r\n");
  await host.write(
    Buffer.concat([
      Buffer.from('{"id":1,"method":"RPC.Ping","params":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}\n'),
    ]),
  );
  await host.write('{"id":2,\u0000"method":"RPC.Ping"}\n');
  await host.write('{"id":3,"method":"RPC.Ping"}\n');
  await until(() => host.frames().some((f) => f.id === 3), "answer to id 3");
  const byId = new Map(host.frames().map((f) => [f.id, f]));
  assert.deepEqual((byId.get(3)?.result as { channel_info: string }).channel_info, pty.a);
  const errors = host.frames().filter((f) => f.id === null);
  assert.ok(
    errors.some((f) => (f.error as { code: number }).code === -32700),
    "invalid UTF-8 and NUL reported as parse errors",
  );
  assert.equal(daemon.host.stats.log_lines, 1);
  assert.equal(daemon.host.stats.utf8_errors, 1);
});

test("a 1 MiB line with no newline is dropped, reported to the host once, and the link keeps working", async (t) => {
  const pty = await ptyPair(t);
  const daemon = await startDaemon(t, pty.a);
  const host = await rawHost(t, pty.b);
  await until(() => daemon.host.state === "up", "link up");
  const big = Buffer.alloc(1024 * 1024, "x".charCodeAt(0));
  await host.write(big);
  await host.write('\n{"id":9,"method":"RPC.Ping"}\n');
  await until(() => host.frames().some((f) => f.id === 9), "answer after the oversized line", 10_000);
  const tooLarge = host
    .frames()
    .filter((f) => f.id === null && (f.error as { code: number }).code === -32600);
  assert.equal(tooLarge.length, 1);
  assert.match((tooLarge[0]!.error as { message: string }).message, /more than 8192 bytes/);
  assert.equal(daemon.host.stats.oversize, 1);
});

test("malformed JSON gets a -32700 parse error with id null, wrong types get -32600, unknown methods -32601", async (t) => {
  const pty = await ptyPair(t);
  const daemon = await startDaemon(t, pty.a);
  const host = await rawHost(t, pty.b);
  await until(() => daemon.host.state === "up", "link up");
  await host.write('{"id":1,"method":\n');
  await host.write('{"id":2,"method":42}\n');
  await host.write('{"id":3,"method":"No.Such"}\n');
  await host.write('{"id":4,"method":"RPC.Describe","params":{"name":5}}\n');
  await until(() => host.frames().length >= 4, "four answers");
  const codes = host.frames().map((f) => [f.id, (f.error as { code: number } | undefined)?.code]);
  assert.deepEqual(codes.slice(0, 4), [
    [null, -32700],
    [2, -32600],
    [3, -32601],
    [4, -32602],
  ]);
});

test("a log line that starts with { but opens no frame ({wifi} up) is host output, never answered; a broken frame gets -32700", async (t) => {
  const pty = await ptyPair(t);
  const daemon = await startDaemon(t, pty.a);
  const host = await rawHost(t, pty.b);
  await until(() => daemon.host.state === "up", "link up");
  const logged: string[] = [];
  daemon.host.on("log", (line) => logged.push(line));
  await host.write("{wifi} up\r\n{I} (88) mqtt: connected\r\n");
  await host.write('{"id":1,"method":\n');
  await host.write('{"id":2,"method":"RPC.Ping"}\n');
  await until(() => host.frames().some((f) => f.id === 2), "answer to id 2");
  assert.deepEqual(logged, ["{wifi} up", "{I} (88) mqtt: connected"]);
  assert.equal(daemon.host.stats.log_lines, 2);
  assert.deepEqual(
    host.frames().map((f) => [f.id, (f.error as { code: number } | undefined)?.code]),
    [
      [null, -32700],
      [2, undefined],
    ],
    "one error, for the line that opened as a frame",
  );
  assert.equal(daemon.host.stats.parse_errors, 1);
});
