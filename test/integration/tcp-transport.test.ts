import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { test, type TestContext } from "node:test";
import { isCcmError } from "../../src/errors.js";
import { createTransport, parseTcpPath } from "../../src/transports/open.js";
import { SerialPortTransport } from "../../src/transports/serial-port.js";
import { TcpTransport } from "../../src/transports/tcp.js";
import type { ByteTransport } from "../../src/transports/transport.js";
import { freePort } from "../helpers/socat.js";

const EVENT_TIMEOUT_MS = 5000;

function within<T>(p: Promise<T>, what: string, ms = EVENT_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what} did not happen within ${ms} ms`));
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => {
    clearTimeout(timer);
  });
}

function nextClose(t: ByteTransport): Promise<Error | undefined> {
  return within(new Promise((resolve) => t.once("close", resolve)), `close on ${t.path}`);
}

function receive(stream: { on(e: "data", f: (c: Buffer) => void): unknown }, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  return within(
    new Promise((resolve) => {
      stream.on("data", (c) => {
        chunks.push(c);
        got += c.length;
        if (got >= n) resolve(Buffer.concat(chunks));
      });
    }),
    `receiving ${n} bytes`,
  );
}

/** A listening server on 127.0.0.1:0 whose first accepted socket is handed out; all closed after the test. */
async function serve(t: TestContext): Promise<{ port: number; accepted: Promise<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  let accept: (s: net.Socket) => void = () => undefined;
  const accepted = new Promise<net.Socket>((resolve) => (accept = resolve));
  const server = net.createServer((s) => {
    sockets.add(s);
    accept(s);
  });
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return { port: address.port, accepted };
}

async function connect(t: TestContext, port: number): Promise<TcpTransport> {
  const tcp = new TcpTransport("127.0.0.1", port);
  t.after(() => tcp.close());
  await tcp.open();
  return tcp;
}

test("a TcpTransport round-trips bytes with a serial-over-TCP server", async (t) => {
  const server = await serve(t);
  const tcp = await connect(t, server.port);
  assert.equal(tcp.isOpen, true);
  assert.equal(tcp.path, `tcp://127.0.0.1:${server.port}`);
  const peer = await within(server.accepted, "accept");
  const atServer = receive(peer, 5);
  await tcp.write("ping\n");
  assert.equal((await atServer).toString(), "ping\n");
  const atClient = receive(tcp, 5);
  peer.write("pong\n");
  assert.equal((await atClient).toString(), "pong\n");
});

test("a 64 KiB payload arrives intact over TCP", async (t) => {
  const server = await serve(t);
  const tcp = await connect(t, server.port);
  const peer = await within(server.accepted, "accept");
  const payload = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7) & 0xff));
  const atServer = receive(peer, payload.length);
  await tcp.write(payload);
  assert.ok((await atServer).equals(payload));
});

test("the server closing the connection makes the transport emit close with an error", async (t) => {
  const server = await serve(t);
  const tcp = await connect(t, server.port);
  const peer = await within(server.accepted, "accept");
  const closed = nextClose(tcp);
  peer.end();
  const err = await closed;
  assert.ok(err instanceof Error);
  assert.match(err.message, /connection closed by peer/);
  assert.equal(tcp.isOpen, false);
  await assert.rejects(tcp.write("x"), (e) => isCcmError(e, "LINK_DOWN"));
});

test("the server resetting the connection makes the transport emit close with an error", async (t) => {
  const server = await serve(t);
  const tcp = await connect(t, server.port);
  const peer = await within(server.accepted, "accept");
  const closed = nextClose(tcp);
  peer.resetAndDestroy();
  assert.ok((await closed) instanceof Error);
});

test("close() emits close without an error, ends the connection and is idempotent", async (t) => {
  const server = await serve(t);
  const tcp = await connect(t, server.port);
  const peer = await within(server.accepted, "accept");
  const events: (Error | undefined)[] = [];
  tcp.on("close", (e) => events.push(e));
  const peerEnded = within(once(peer, "end"), "server sees end");
  await tcp.close();
  await tcp.close();
  await peerEnded;
  assert.deepEqual(events, [undefined]);
  assert.equal(tcp.isOpen, false);
});

test("connection refused rejects with TRANSPORT_OPEN_FAILED naming the address", async () => {
  const port = await freePort();
  const tcp = new TcpTransport("127.0.0.1", port);
  await assert.rejects(tcp.open(), (e) => {
    assert.ok(isCcmError(e, "TRANSPORT_OPEN_FAILED"));
    assert.match(e.message, new RegExp(`^cannot open tcp://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    return true;
  });
  assert.equal(tcp.isOpen, false);
});

test("createTransport picks TcpTransport for tcp://host:port and a serial port otherwise", async (t) => {
  const server = await serve(t);
  const tcp = createTransport(`tcp://127.0.0.1:${server.port}`, { baudRate: 115200 });
  assert.ok(tcp instanceof TcpTransport);
  t.after(() => tcp.close());
  await tcp.open();
  await within(server.accepted, "accept");
  assert.ok(createTransport("/dev/ttyUSB0", { baudRate: 115200 }) instanceof SerialPortTransport);
});

test("createTransport rejects malformed tcp:// addresses with BAD_ARGUMENT", () => {
  for (const bad of [
    "tcp://nohostport",
    "tcp://:5000",
    "tcp://host:0",
    "tcp://host:70000",
    "tcp://host:1/x",
    "tcp://u:p@host:1",
    "tcp:host:1",
  ]) {
    assert.throws(
      () => createTransport(bad, { baudRate: 115200 }),
      (e) => isCcmError(e, "BAD_ARGUMENT"),
      bad,
    );
  }
});

test("parseTcpPath accepts host names, IPv4 and bracketed IPv6", () => {
  assert.deepEqual(parseTcpPath("tcp://ser2net.local:3001"), { host: "ser2net.local", port: 3001 });
  assert.deepEqual(parseTcpPath("tcp://10.0.0.2:4000/"), { host: "10.0.0.2", port: 4000 });
  assert.deepEqual(parseTcpPath("tcp://[::1]:5000"), { host: "::1", port: 5000 });
  assert.equal(new TcpTransport("::1", 5000).path, "tcp://[::1]:5000");
});
