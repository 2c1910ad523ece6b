import type { EventEmitter } from "node:events";

/** Events every byte transport emits. */
export interface TransportEvents {
  /** Bytes arrived from the other end. */
  data: [chunk: Buffer];
  /** The transport closed: `error` is set when it was not asked to (unplug, peer gone). */
  close: [error?: Error];
}

/**
 * A bidirectional byte pipe: a serial port, a TCP socket or an in-memory pair.
 * Channels build frames on top of it; the STM32 flasher talks raw bytes through it.
 */
export interface ByteTransport extends EventEmitter<TransportEvents> {
  /** What it was opened on, for logs: `/dev/ttyUSB0`, `tcp://host:port`, `mem:a`. */
  readonly path: string;
  readonly isOpen: boolean;
  /** Opens the transport; rejects with CcmError TRANSPORT_OPEN_FAILED. */
  open(): Promise<void>;
  /** Queues bytes for writing; resolves once handed to the OS (drained). */
  write(data: Uint8Array | string): Promise<void>;
  /** Closes; emits `close` without an error. Idempotent. */
  close(): Promise<void>;
  /** Changes the line settings where the transport has them (serial); a no-op elsewhere. */
  update?(settings: { baudRate?: number; parity?: "none" | "even" }): Promise<void>;
  /** Sets modem-control lines where the transport has them (serial): true asserts the signal; one not named keeps its level. */
  setSignals?(signals: { dtr?: boolean; rts?: boolean }): Promise<void>;
}

/** Serial line settings; 8 data bits and 1 stop bit always. */
export interface SerialSettings {
  baudRate: number;
  parity?: "none" | "even";
  /** Drop DTR/RTS on close (resets many boards): off by default. */
  hupcl?: boolean;
}
