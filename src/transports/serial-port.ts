/**
 * A ByteTransport on a local serial device through node-serialport (`@serialport/stream` on the
 * platform binding), with promise wrappers around its callback API in the manner of zigbee-herdsman.
 *
 * Each open() builds a fresh SerialPortStream: a Duplex that errored or disconnected is not reused,
 * and late events from an old stream are ignored.
 */
import { execFile } from "node:child_process";
import { EventEmitter } from "node:events";
import { readSync, writeSync } from "node:fs";
import { promisify } from "node:util";
import {
  autoDetect,
  BindingsError,
  DarwinPortBinding,
  LinuxPortBinding,
  type AutoDetectTypes,
} from "@serialport/bindings-cpp";
import { SerialPortStream } from "@serialport/stream";
import { CcmError, errorMessage } from "../errors.js";
import type { ByteTransport, SerialSettings, TransportEvents } from "./transport.js";

type Port = SerialPortStream<AutoDetectTypes>;

let binding: AutoDetectTypes | undefined;

function platformBinding(): AutoDetectTypes {
  binding ??= autoDetect();
  return binding;
}

function validate(path: string, settings: SerialSettings): void {
  if (path === "") throw new CcmError("BAD_ARGUMENT", "serial port path is empty");
  const { baudRate } = settings;
  const parity: unknown = settings.parity;
  if (!Number.isInteger(baudRate) || baudRate <= 0) {
    throw new CcmError("BAD_ARGUMENT", `bad baud rate for ${path}: ${String(baudRate)}`);
  }
  if (parity !== undefined && parity !== "none" && parity !== "even") {
    throw new CcmError(
      "BAD_ARGUMENT",
      `bad parity for ${path}: ${JSON.stringify(parity)} (expected "none" or "even")`,
    );
  }
}

/** serialport says "Error: No such file or directory, cannot open /dev/x"; keep the reason only. */
function openReason(e: unknown): string {
  return errorMessage(e)
    .replace(/^(Error:\s*)+/, "")
    .replace(/, cannot open .*$/, "");
}

const execFileAsync = promisify(execFile);

/**
 * Clears HUPCL on an open device. bindings-cpp sets the flag for `hupcl: true` but otherwise leaves it
 * as the tty had it, and Linux brings USB serial ports up with it: closing would drop DTR and reset
 * an Arduino-style board. Node cannot call tcsetattr; stty can. Best effort: without stty the flag
 * stays as the device had it.
 */
async function clearHupcl(path: string): Promise<void> {
  if (process.platform !== "linux" && process.platform !== "darwin") return;
  const device = process.platform === "darwin" ? "-f" : "-F";
  await execFileAsync("stty", [device, path, "-hupcl"], { timeout: 5000 }).catch(() => undefined);
}

function isRetryable(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code === "EAGAIN" || code === "EWOULDBLOCK" || code === "EINTR";
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/*
 * Reads and writes as libuv does for sockets: a non-blocking syscall on the event loop's thread; a
 * read waits on the binding's poller (epoll) only when the fd has nothing to give, a write retries on
 * a timer when it has no room (writeAll says why). bindings-cpp sends each read and write through the
 * thread pool (fs.read / fs.write) instead: two thread hand-offs per turnaround on each end, which is
 * most of a bootloader exchange's latency (docs/performance.md, flash). The fd is O_NONBLOCK
 * (bindings-cpp opens it so), so neither call can stall the loop.
 */

/**
 * bindings-cpp's unixRead retries a zero-byte read forever (serialport/bindings-cpp#162), but on Linux a
 * non-blocking tty read returns 0 only once the tty is hung up (USB unplug, pty master closed): the
 * port would spin at 100% CPU and never report the disconnect. This read turns end-of-file into the
 * non-canceled error that makes SerialPortStream close with a DisconnectedError.
 */
function readUntilHangup(binding: LinuxPortBinding | DarwinPortBinding) {
  const readable = (): Promise<void> =>
    new Promise((resolve, reject) => {
      binding.poller.once("readable", (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
  return async (
    buffer: Buffer,
    offset: number,
    length: number,
  ): Promise<{ buffer: Buffer; bytesRead: number }> => {
    for (;;) {
      const fd = binding.fd;
      if (fd === null) throw new BindingsError("Port is not open", { canceled: true });
      let bytesRead: number;
      try {
        bytesRead = readSync(fd, buffer, offset, length, null);
      } catch (e) {
        if (!isRetryable(e)) throw e;
        if (binding.fd === null) throw new BindingsError("Port is not open", { canceled: true });
        await readable();
        continue;
      }
      if (bytesRead === 0) throw new Error("the device hung up (end of file)");
      return { buffer, bytesRead };
    }
  };
}

/** Errors bindings-cpp's unixWrite marks as a disconnect (so the stream closes rather than retries). */
function isDisconnect(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException;
  return err.code === "EBADF" || err.code === "ENXIO" || err.code === "EIO" || err.errno === -1;
}

/** bindings-cpp's write (all of `buffer`, waiting for room on EAGAIN), with non-blocking writeSync. */
function writeAll(binding: LinuxPortBinding | DarwinPortBinding) {
  const state = binding as unknown as { writeOperation: Promise<void> | null };
  return (buffer: Buffer): Promise<void> => {
    if (!binding.isOpen) return Promise.reject(new Error("Port is not open"));
    const operation = (async () => {
      let offset = 0;
      while (offset < buffer.length) {
        const fd = binding.fd;
        if (fd === null) throw new Error("Port is not open");
        try {
          offset += writeSync(fd, buffer, offset, buffer.length - offset);
        } catch (e) {
          if (isRetryable(e)) {
            // The device's buffer is full. Not the poller: bindings-cpp's Poller arms epoll with only
            // the events of its latest poll() call, so waiting here for "writable" would drop the
            // read side's "readable" and stall reception on this port. The buffer (4 KiB on Linux)
            // empties at wire speed; a millisecond between tries costs nothing measurable.
            await sleep(1);
            continue;
          }
          if (isDisconnect(e)) (e as { disconnect?: boolean }).disconnect = true;
          throw e;
        }
      }
      state.writeOperation = null;
    })();
    // drain() awaits the write in flight before tcdrain, as bindings-cpp's own write arranges.
    state.writeOperation = operation;
    return operation;
  };
}

function portOpen(port: Port): Promise<void> {
  return new Promise((resolve, reject) => {
    port.open((err) => {
      if (err) reject(err);
      else resolve();
    });
  });
}

function portClose(port: Port): Promise<void> {
  return new Promise((resolve) => {
    if (port.closing) {
      const done = (): void => {
        port.off("close", done);
        port.off("error", done);
        resolve();
      };
      port.on("close", done);
      port.on("error", done);
    } else if (port.isOpen) {
      port.close(() => {
        resolve();
      });
    } else {
      resolve();
    }
  });
}

/** A serial device (8N1, or 8E1 with even parity) as a ByteTransport; closing leaves DTR/RTS alone unless `hupcl`. */
export class SerialPortTransport extends EventEmitter<TransportEvents> implements ByteTransport {
  readonly path: string;
  #settings: SerialSettings;
  #port: Port | undefined;
  #opening: Promise<void> | undefined;
  /** DTR and RTS as last set: asserted at open, as the kernel raises both when a tty is opened. */
  readonly #signals = { dtr: true, rts: true };
  /** Rejecters of writes in flight: serialport would hold them until a reopen that never comes. */
  readonly #pending = new Set<(err: Error) => void>();

  constructor(path: string, settings: SerialSettings) {
    super();
    validate(path, settings);
    this.path = path;
    this.#settings = { ...settings };
  }

  get isOpen(): boolean {
    return this.#port?.isOpen === true;
  }

  /** The line settings the port is (or will be) opened with. */
  get settings(): Readonly<SerialSettings> {
    return this.#settings;
  }

  /** Opens the device; rejects with TRANSPORT_OPEN_FAILED ("cannot open /dev/x: reason"). No-op when open. */
  open(): Promise<void> {
    if (this.#port !== undefined) return Promise.resolve();
    this.#opening ??= this.#openPort().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  /** Writes bytes; resolves once the OS has transmitted them (tcdrain); rejects with LINK_DOWN if the port goes. */
  write(data: Uint8Array | string): Promise<void> {
    const port = this.#port;
    if (port?.isOpen !== true) return Promise.reject(new CcmError("LINK_DOWN", `${this.path} is not open`));
    const chunk = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
    return new Promise((resolve, reject) => {
      const settle = (err?: Error | null, what = "write"): void => {
        if (!this.#pending.delete(settle)) return;
        if (!err) {
          resolve();
          return;
        }
        const message = `${what} on ${this.path} failed: ${errorMessage(err)}`;
        reject(new CcmError("LINK_DOWN", message, { cause: err }));
      };
      this.#pending.add(settle);
      port.write(chunk, (err) => {
        if (err) {
          settle(err);
        } else if (!port.isOpen) {
          settle(new Error("port closed"));
        } else {
          port.drain((drainErr) => {
            settle(drainErr, "drain");
          });
        }
      });
    });
  }

  /** Closes the device and emits `close` without an error; a no-op when not open. */
  async close(): Promise<void> {
    if (this.#opening !== undefined) await this.#opening.catch(() => undefined);
    const port = this.#detach();
    if (port === undefined) return;
    await portClose(port);
    this.emit("close");
  }

  /**
   * Changes baud rate in place (tcsetattr); a parity change reopens the device, since serialport can only
   * set parity at open. The reopen is silent (no `close` event) unless it fails, when `close` carries the error.
   */
  async update(settings: { baudRate?: number; parity?: "none" | "even" }): Promise<void> {
    const next: SerialSettings = { ...this.#settings, ...settings };
    validate(this.path, next);
    const prev = this.#settings;
    this.#settings = next;
    const port = this.#port;
    if (port === undefined) return;
    if ((next.parity ?? "none") !== (prev.parity ?? "none")) {
      await this.#reopen(port);
    } else if (next.baudRate !== prev.baudRate) {
      await new Promise<void>((resolve, reject) => {
        port.update({ baudRate: next.baudRate }, (err) => {
          if (err) {
            this.#settings = { ...this.#settings, baudRate: prev.baudRate };
            reject(
              new CcmError(
                "BAD_ARGUMENT",
                `cannot set ${next.baudRate} baud on ${this.path}: ${errorMessage(err)}`,
                { cause: err },
              ),
            );
          } else {
            resolve();
          }
        });
      });
    }
  }

  /**
   * Asserts (true) or deasserts DTR/RTS through TIOCMSET; a signal not named keeps its level (node-serialport
   * alone would assert it). Fails on a device without modem lines (a pty).
   */
  setSignals(signals: { dtr?: boolean; rts?: boolean }): Promise<void> {
    const port = this.#port;
    if (port?.isOpen !== true) return Promise.reject(new CcmError("LINK_DOWN", `${this.path} is not open`));
    const next = { dtr: signals.dtr ?? this.#signals.dtr, rts: signals.rts ?? this.#signals.rts };
    return new Promise((resolve, reject) => {
      port.set(next, (err) => {
        if (err) {
          const message = `cannot set ${Object.keys(signals).join("/").toUpperCase()} on ${this.path}: ${errorMessage(err)}`;
          reject(new CcmError("BAD_ARGUMENT", message, { cause: err }));
        } else {
          Object.assign(this.#signals, next);
          resolve();
        }
      });
    });
  }

  async #openPort(): Promise<void> {
    const s = this.#settings;
    const port: Port = new SerialPortStream({
      binding: platformBinding(),
      path: this.path,
      baudRate: s.baudRate,
      dataBits: 8,
      stopBits: 1,
      parity: s.parity ?? "none",
      hupcl: s.hupcl ?? false,
      rtscts: false,
      autoOpen: false,
    });
    port.on("error", (err: Error) => {
      this.#onPortGone(port, err);
    });
    try {
      await portOpen(port);
    } catch (e) {
      throw new CcmError("TRANSPORT_OPEN_FAILED", `cannot open ${this.path}: ${openReason(e)}`, { cause: e });
    }
    const bound = port.port;
    if (bound instanceof LinuxPortBinding || bound instanceof DarwinPortBinding) {
      bound.read = readUntilHangup(bound);
      bound.write = writeAll(bound);
    }
    port.on("data", (chunk: Buffer) => {
      if (this.#port === port) this.emit("data", chunk);
    });
    port.on("close", (err?: Error | null) => {
      this.#onPortGone(
        port,
        err
          ? new Error(`${this.path} disconnected: ${err.message}`, { cause: err })
          : new Error(`${this.path} closed unexpectedly`),
      );
    });
    this.#port = port;
    this.#signals.dtr = true;
    this.#signals.rts = true;
    if (s.hupcl !== true) await clearHupcl(this.path);
  }

  /** The stream closed or failed on its own (unplugged, pty master gone, write error). */
  #onPortGone(port: Port, err: Error): void {
    if (this.#port !== port) return;
    this.#detach();
    void portClose(port);
    this.emit("close", err);
  }

  #detach(): Port | undefined {
    const port = this.#port;
    this.#port = undefined;
    if (port !== undefined) port.removeAllListeners("data");
    for (const settle of [...this.#pending]) settle(new Error("port closed"));
    return port;
  }

  async #reopen(port: Port): Promise<void> {
    this.#detach();
    await portClose(port);
    try {
      await this.open();
    } catch (e) {
      this.emit("close", e instanceof Error ? e : new Error(errorMessage(e)));
      throw e;
    }
  }
}
