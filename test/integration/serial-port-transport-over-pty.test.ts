import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { isCcmError } from "../../src/errors.js";
import { LinuxPortBinding } from "@serialport/bindings-cpp";
import { SerialPortTransport } from "../../src/transports/serial-port.js";
import type { ByteTransport } from "../../src/transports/transport.js";
import { run } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";

const EVENT_TIMEOUT_MS = 5000;

/** Resolves with the first `close` event's argument; fails the test if none comes in time. */
function nextClose(t: ByteTransport, ms = EVENT_TIMEOUT_MS): Promise<Error | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${t.path} did not emit close within ${ms} ms`));
    }, ms);
    t.once("close", (err) => {
      clearTimeout(timer);
      resolve(err);
    });
  });
}

/** Resolves with the first `n` bytes `t` receives from now on. */
function receive(t: ByteTransport, n: number, ms = EVENT_TIMEOUT_MS): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const timer = setTimeout(() => {
      t.off("data", onData);
      reject(new Error(`${t.path} received ${got} of ${n} bytes within ${ms} ms`));
    }, ms);
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= n) {
        clearTimeout(timer);
        t.off("data", onData);
        resolve(Buffer.concat(chunks));
      }
    };
    t.on("data", onData);
  });
}

/** Opens a transport on `path` that is closed when the test ends. */
async function openPort(
  t: TestContext,
  path: string,
  parity: "none" | "even" = "none",
): Promise<SerialPortTransport> {
  const port = new SerialPortTransport(path, { baudRate: 115200, parity });
  t.after(() => port.close());
  await port.open();
  return port;
}

async function roundTrip(x: ByteTransport, y: ByteTransport, payload: Buffer): Promise<void> {
  const atY = receive(y, payload.length);
  await x.write(payload);
  assert.ok((await atY).equals(payload), `bytes from ${x.path} arrived intact at ${y.path}`);
}

test("a SerialPortTransport on each end of a pty pair exchanges bytes both ways", async (t) => {
  const pair = await ptyPair(t);
  const a = await openPort(t, pair.a);
  const b = await openPort(t, pair.b);
  assert.equal(a.isOpen, true);
  assert.equal(a.path, pair.a);
  await roundTrip(a, b, Buffer.from('{"jsonrpc":"2.0","method":"Sys.Ping"}\n'));
  await roundTrip(b, a, Buffer.from('{"jsonrpc":"2.0","result":true}\n'));
});

test("a 64 KiB payload of every byte value arrives intact (the line is raw: no CR/LF, XON/XOFF or ^C mangling)", async (t) => {
  const pair = await ptyPair(t);
  const a = await openPort(t, pair.a);
  const b = await openPort(t, pair.b);
  const payload = Buffer.concat([
    Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    randomBytes(64 * 1024 - 256),
  ]);
  await roundTrip(a, b, payload);
  await roundTrip(b, a, payload.reverse());
});

test("killing socat makes both open transports emit close with an error", async (t) => {
  const pair = await ptyPair(t);
  const a = await openPort(t, pair.a);
  const b = await openPort(t, pair.b);
  const closedA = nextClose(a);
  const closedB = nextClose(b);
  await pair.kill();
  const [errA, errB] = await Promise.all([closedA, closedB]);
  assert.ok(errA instanceof Error, "a's close carries an error");
  assert.ok(errB instanceof Error, "b's close carries an error");
  assert.equal(a.isOpen, false);
  await assert.rejects(a.write("x"), (e) => isCcmError(e, "LINK_DOWN"));
});

test("a write still in flight when the cable is pulled rejects instead of hanging", async (t) => {
  const pair = await ptyPair(t);
  const a = await openPort(t, pair.a);
  const writing = assert.rejects(a.write(Buffer.alloc(4 * 1024 * 1024, 0x55)), (e) =>
    isCcmError(e, "LINK_DOWN"),
  );
  const gone = nextClose(a);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await pair.kill();
  await writing;
  assert.ok((await gone) instanceof Error);
});

test("after socat is restarted a new transport on the same path opens and works", async (t) => {
  const pair = await ptyPair(t);
  const first = await openPort(t, pair.a);
  const gone = nextClose(first);
  await pair.kill();
  assert.ok((await gone) instanceof Error);
  await pair.restart();
  const a = await openPort(t, pair.a);
  const b = await openPort(t, pair.b);
  await roundTrip(a, b, Buffer.from("replugged\n"));
  await roundTrip(b, a, Buffer.from("welcome back\n"));
});

test("the same transport object can be reopened after an unplug", async (t) => {
  const pair = await ptyPair(t);
  const a = await openPort(t, pair.a);
  const gone = nextClose(a);
  await pair.kill();
  await gone;
  await pair.restart();
  await a.open();
  const b = await openPort(t, pair.b);
  await roundTrip(a, b, Buffer.from("same object\n"));
});

test("close() emits close without an error, is idempotent and frees the port for the next opener", async (t) => {
  const pair = await ptyPair(t);
  const a = await openPort(t, pair.a);
  const events: (Error | undefined)[] = [];
  a.on("close", (e) => events.push(e));
  await a.close();
  await a.close();
  assert.deepEqual(events, [undefined]);
  assert.equal(a.isOpen, false);
  const again = await openPort(t, pair.a);
  const b = await openPort(t, pair.b);
  await roundTrip(b, again, Buffer.from("next opener\n"));
});

test("a second opener of a port in use is refused (the port is locked)", async (t) => {
  const pair = await ptyPair(t);
  await openPort(t, pair.a);
  const intruder = new SerialPortTransport(pair.a, { baudRate: 115200 });
  await assert.rejects(intruder.open(), (e) => isCcmError(e, "TRANSPORT_OPEN_FAILED"));
});

test("changing the baud rate keeps the port open; changing parity reopens it without a close event", async (t) => {
  const pair = await ptyPair(t);
  const a = await openPort(t, pair.a);
  const b = await openPort(t, pair.b);
  const events: (Error | undefined)[] = [];
  a.on("close", (e) => events.push(e));
  await a.update({ baudRate: 57600 });
  assert.equal(a.settings.baudRate, 57600);
  await roundTrip(a, b, Buffer.from("57600\n"));
  await a.update({ parity: "even" });
  assert.equal(a.isOpen, true);
  assert.equal(a.settings.parity, "even");
  await roundTrip(a, b, Buffer.from("8E1\n"));
  await roundTrip(b, a, Buffer.from("still here\n"));
  assert.deepEqual(events, []);
});

test("opening a path that does not exist rejects with TRANSPORT_OPEN_FAILED naming the path", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ccm-noport-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "ttyNOPE0");
  const port = new SerialPortTransport(path, { baudRate: 115200 });
  await assert.rejects(port.open(), (e) => {
    assert.ok(isCcmError(e, "TRANSPORT_OPEN_FAILED"));
    assert.match(e.message, new RegExp(`^cannot open ${path}: .+`));
    assert.ok(e.cause !== undefined);
    return true;
  });
  assert.equal(port.isOpen, false);
});

test("bad line settings are refused up front with BAD_ARGUMENT", () => {
  assert.throws(
    () => new SerialPortTransport("/dev/null", { baudRate: 0 }),
    (e) => isCcmError(e, "BAD_ARGUMENT"),
  );
  assert.throws(
    () => new SerialPortTransport("", { baudRate: 9600 }),
    (e) => isCcmError(e, "BAD_ARGUMENT"),
  );
});

test("a port opened with hupcl off has -hupcl while open, even when the tty had hupcl set; hupcl on sets it", async (t) => {
  const pair = await ptyPair(t);
  const hupcl = async (): Promise<string | undefined> => {
    const r = await run("stty", ["-F", pair.a, "-a"]);
    return /(?:^|\s)(-?hupcl)(?:\s|$)/.exec(r.stdout)?.[1];
  };
  await run("stty", ["-F", pair.a, "hupcl"]);
  assert.equal(await hupcl(), "hupcl", "as a USB serial port comes up on Linux");
  const port = new SerialPortTransport(pair.a, { baudRate: 115200 });
  await port.open();
  assert.equal(await hupcl(), "-hupcl", "closing will not drop DTR and reset the board");
  await port.close();
  const resetting = new SerialPortTransport(pair.a, { baudRate: 115200, hupcl: true });
  await resetting.open();
  t.after(() => resetting.close());
  assert.equal(await hupcl(), "hupcl");
});

test("setting one modem signal leaves the other as it was: DTR and RTS start asserted and each keeps its last level", async (t) => {
  // A pty has no modem lines (TIOCMSET fails), so the binding's set, the ioctl, is what is watched.
  const sent: object[] = [];
  const original = Object.getOwnPropertyDescriptor(LinuxPortBinding.prototype, "set")!;
  LinuxPortBinding.prototype.set = function (options) {
    sent.push({ dtr: options.dtr, rts: options.rts });
    return Promise.resolve();
  };
  t.after(() => {
    Object.defineProperty(LinuxPortBinding.prototype, "set", original);
  });
  const pair = await ptyPair(t);
  const port = new SerialPortTransport(pair.a, { baudRate: 115200 });
  t.after(() => port.close());
  await port.open();
  await port.setSignals({ rts: false });
  await port.setSignals({ dtr: false });
  await port.setSignals({ rts: true });
  await port.close();
  await port.open();
  await port.setSignals({ dtr: false });
  assert.deepEqual(sent, [
    { dtr: true, rts: false },
    { dtr: false, rts: false },
    { dtr: false, rts: true },
    { dtr: false, rts: true },
  ]);
});
