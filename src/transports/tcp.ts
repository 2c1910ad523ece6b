/**
 * A ByteTransport on a TCP connection to a serial-over-TCP server (ser2net raw mode, `socat TCP-LISTEN`),
 * so a board on another machine's UART looks like a local port.
 */
import { EventEmitter } from "node:events";
import net from "node:net";
import { CcmError, errorMessage } from "../errors.js";
import type { ByteTransport, TransportEvents } from "./transport.js";

export interface TcpTransportOptions {
  /** Give up connecting after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** TCP keepalive probe delay, to notice a vanished server on an idle line (default 15 s; 0 disables). */
  keepAliveMs?: number;
}

/** Formats host and port as the transport's `tcp://host:port` path, bracketing IPv6 literals. */
export function tcpPath(host: string, port: number): string {
  return `tcp://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** A raw TCP byte stream as a ByteTransport: Nagle off, remote close reported as `close` with an error. */
export class TcpTransport extends EventEmitter<TransportEvents> implements ByteTransport {
  readonly path: string;
  readonly host: string;
  readonly port: number;
  readonly #options: TcpTransportOptions;
  #socket: net.Socket | undefined;
  #opening: Promise<void> | undefined;

  constructor(host: string, port: number, options: TcpTransportOptions = {}) {
    super();
    if (host === "") throw new CcmError("BAD_ARGUMENT", "TCP host is empty");
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new CcmError("BAD_ARGUMENT", `bad TCP port for ${host}: ${String(port)}`);
    }
    this.host = host;
    this.port = port;
    this.path = tcpPath(host, port);
    this.#options = options;
  }

  get isOpen(): boolean {
    const s = this.#socket;
    return s !== undefined && !s.destroyed && s.readyState === "open";
  }

  /** Connects; rejects with TRANSPORT_OPEN_FAILED ("cannot open tcp://h:p: reason"). No-op when open. */
  open(): Promise<void> {
    if (this.#socket !== undefined) return Promise.resolve();
    this.#opening ??= this.#connect().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  /** Writes bytes; resolves once node has handed them to the kernel. */
  write(data: Uint8Array | string): Promise<void> {
    const socket = this.#socket;
    if (socket === undefined || !this.isOpen) {
      return Promise.reject(new CcmError("LINK_DOWN", `${this.path} is not open`));
    }
    return new Promise((resolve, reject) => {
      socket.write(data, (err) => {
        if (err)
          reject(
            new CcmError("LINK_DOWN", `write on ${this.path} failed: ${errorMessage(err)}`, { cause: err }),
          );
        else resolve();
      });
    });
  }

  /** Flushes, sends FIN and closes; emits `close` without an error. A no-op when not open. */
  async close(): Promise<void> {
    if (this.#opening !== undefined) await this.#opening.catch(() => undefined);
    const socket = this.#socket;
    if (socket === undefined) return;
    this.#socket = undefined;
    socket.removeAllListeners("data");
    if (!socket.destroyed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        socket.end(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      socket.destroy();
    }
    this.emit("close");
  }

  /** TCP has no line settings (ser2net's RFC 2217 control is not spoken here). */
  update(): Promise<void> {
    return Promise.resolve();
  }

  #connect(): Promise<void> {
    const timeoutMs = this.#options.connectTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ host: this.host, port: this.port });
      const timer = setTimeout(() => {
        fail(new Error(`no connection after ${timeoutMs} ms`));
      }, timeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(
          new CcmError("TRANSPORT_OPEN_FAILED", `cannot open ${this.path}: ${errorMessage(err)}`, {
            cause: err,
          }),
        );
      };
      socket.once("error", fail);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.off("error", fail);
        this.#adopt(socket);
        resolve();
      });
    });
  }

  #adopt(socket: net.Socket): void {
    socket.setNoDelay(true);
    const keepAliveMs = this.#options.keepAliveMs ?? 15_000;
    if (keepAliveMs > 0) socket.setKeepAlive(true, keepAliveMs);
    let lastError: Error | undefined;
    socket.on("data", (chunk: Buffer) => {
      if (this.#socket === socket) this.emit("data", chunk);
    });
    socket.on("error", (err) => {
      lastError = err;
    });
    socket.on("close", () => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      this.emit(
        "close",
        lastError === undefined
          ? new Error(`${this.path}: connection closed by peer`)
          : new Error(`${this.path}: connection lost: ${lastError.message}`, { cause: lastError }),
      );
    });
    this.#socket = socket;
  }
}
