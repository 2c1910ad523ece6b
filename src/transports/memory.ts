/**
 * An in-process pair of byte transports joined like a null-modem cable, for tests and the simulator.
 *
 * Semantics:
 * - Both ends start open; `open()` on an open end is a no-op.
 * - Bytes written on one end are copied and emitted as `data` on the other on a later turn of the
 *   event loop (setImmediate, in write order), never synchronously; `write()` resolves once delivered.
 * - `close()` closes this end (`close` without an error) and, after bytes already in flight to it,
 *   the peer (`close` with "peer closed").
 * - `unplug()` closes both ends at once (`isOpen` false immediately) and each emits `close` with an
 *   error on the next turn, as pulling the cable would.
 * - A closed end may be reopened with `open()`; bytes only flow while BOTH ends are open, and bytes
 *   written while the peer is closed are dropped, as on a line with nothing listening.
 */
import { EventEmitter } from "node:events";
import { CcmError } from "../errors.js";
import type { ByteTransport, TransportEvents } from "./transport.js";

/** Line settings last passed to `update()` on a memory transport. */
export interface MemoryLineSettings {
  baudRate?: number;
  parity?: "none" | "even";
}

/** One end of a memoryPair(): a ByteTransport whose peer is another object in the same process. */
export class MemoryTransport extends EventEmitter<TransportEvents> implements ByteTransport {
  readonly path: string;
  /** What `update()` was last asked for (memory has no line settings; tests can inspect this). */
  lineSettings: MemoryLineSettings = {};
  #peer: MemoryTransport | undefined;
  #open = true;
  /** Bumped on every close, so bytes in flight are not delivered into a later session. */
  #session = 0;

  constructor(path: string) {
    super();
    this.path = path;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /** Joins two ends; used by memoryPair(). */
  static connect(a: MemoryTransport, b: MemoryTransport): void {
    a.#peer = b;
    b.#peer = a;
  }

  /** Reopens this end; bytes flow again once the peer is open too. */
  open(): Promise<void> {
    this.#open = true;
    return Promise.resolve();
  }

  /** Sends bytes to the peer; resolves once the peer has emitted them (or dropped them if it is closed). */
  write(data: Uint8Array | string): Promise<void> {
    if (!this.#open) return Promise.reject(new CcmError("LINK_DOWN", `${this.path} is not open`));
    const chunk = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
    const peer = this.#peer;
    if (peer === undefined) return Promise.resolve();
    const peerSession = peer.#session;
    return new Promise((resolve) => {
      setImmediate(() => {
        if (peer.#open && peer.#session === peerSession && chunk.length > 0) {
          peer.emit("data", chunk);
        }
        resolve();
      });
    });
  }

  /** Closes this end (close without error) and the peer (close with "peer closed"). Idempotent. */
  close(): Promise<void> {
    if (!this.#open) return Promise.resolve();
    this.#shut(undefined);
    const peer = this.#peer;
    if (peer !== undefined && peer.#open) {
      const peerSession = peer.#session;
      setImmediate(() => {
        if (peer.#open && peer.#session === peerSession) peer.#shut(new Error(`${peer.path}: peer closed`));
      });
    }
    return Promise.resolve();
  }

  /** Simulates pulling the cable: both ends are closed at once and emit `close` with an error on the next turn. */
  unplug(): void {
    for (const end of [this, this.#peer]) {
      if (end === undefined || !end.#open) continue;
      end.#open = false;
      end.#session++;
      setImmediate(() => end.emit("close", new Error(`${end.path}: unplugged`)));
    }
  }

  /** Records the settings; memory has no line to change. */
  update(settings: MemoryLineSettings): Promise<void> {
    this.lineSettings = { ...this.lineSettings, ...settings };
    return Promise.resolve();
  }

  #shut(error: Error | undefined): void {
    this.#open = false;
    this.#session++;
    if (error === undefined) this.emit("close");
    else this.emit("close", error);
  }
}

/** Two connected in-memory transports (`mem:a`, `mem:b` by default): the host end and the device end of a fake cable. */
export function memoryPair(names: [string, string] = ["mem:a", "mem:b"]): [MemoryTransport, MemoryTransport] {
  const a = new MemoryTransport(names[0]);
  const b = new MemoryTransport(names[1]);
  MemoryTransport.connect(a, b);
  return [a, b];
}
