/**
 * A framed serial link: a byte transport plus the line framer, reopened with backoff when the
 * cable is pulled. Frames out adopt what the peer uses: a CRC suffix and mos's `"""` delimiters
 * once it has sent them (as a Mongoose OS device does, reference mos-protocols.md §2.1).
 */
import { EventEmitter } from "node:events";
import { CcmError, errorMessage } from "../errors.js";
import { LineFramer, encodeLine, type DropReason, type FrameInfo } from "../framing/line-framer.js";
import type { ByteTransport, SerialSettings } from "../transports/transport.js";
import { createTransport } from "../transports/open.js";
import { Backoff } from "../util/backoff.js";

export interface SerialLinkEvents {
  /** The port opened (first time or after a replug). */
  up: [];
  /** The port closed; `error` is set when it was not asked to. */
  down: [error?: Error];
  frame: [text: string, info: FrameInfo];
  /** A line of the peer's log output. */
  log: [line: string];
  dropped: [reason: DropReason, detail: string];
  /** The peer sent mos's handshake frame (a lone 0x04). */
  handshake: [];
  /** Every write handed to the port has completed (pendingBytes is back to 0). */
  drained: [];
}

export interface SerialLinkOptions {
  /** Serial device path or `tcp://host:port`. */
  path: string;
  settings: SerialSettings;
  maxLineBytes?: number;
  /** Reopen after an unplug (default true). */
  reconnect?: boolean;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Answer mos's `"""\x04"""` handshake as a device does (default true). */
  answerHandshake?: boolean;
  /** Always frame as mos does (`"""` + CRC); otherwise adopt what the peer uses. */
  mosFraming?: boolean;
  /** Quiet time after which a held line that is a complete JSON object is taken as a frame
   *  (hosts that print frames without a newline). 0 disables. Default 30 ms. */
  idleFlushMs?: number;
  /** For tests and the simulator: builds the transport instead of opening `path`. */
  transportFactory?: (path: string, settings: SerialSettings) => ByteTransport;
}

/** Counters an operator can read (Sys.GetInfo). */
export interface LinkStats {
  bytes_in: number;
  bytes_out: number;
  frames_in: number;
  frames_out: number;
  log_lines: number;
  oversize: number;
  crc_errors: number;
  utf8_errors: number;
  reconnects: number;
}

/** A serial port carrying one frame per line, with reconnection. */
export class SerialLink extends EventEmitter<SerialLinkEvents> {
  readonly options: SerialLinkOptions;
  readonly stats: LinkStats = {
    bytes_in: 0,
    bytes_out: 0,
    frames_in: 0,
    frames_out: 0,
    log_lines: 0,
    oversize: 0,
    crc_errors: 0,
    utf8_errors: 0,
    reconnects: 0,
  };
  private transport: ByteTransport | undefined;
  private readonly framer: LineFramer;
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  private peerCrc = false;
  private peerCompat = false;
  private lastOpenError = "";
  private opens = 0;
  private pending = 0;

  constructor(options: SerialLinkOptions) {
    super();
    this.options = options;
    this.backoff = new Backoff(options.backoffMinMs ?? 100, options.backoffMaxMs ?? 5000);
    this.framer = new LineFramer(
      {
        frame: (text, info) => {
          this.stats.frames_in++;
          if (info.crc) this.peerCrc = true;
          if (info.compat) this.peerCompat = true;
          this.emit("frame", text, info);
        },
        junk: (line) => {
          this.stats.log_lines++;
          this.emit("log", line);
        },
        dropped: (reason, detail) => {
          if (reason === "oversize") this.stats.oversize++;
          else if (reason === "crc") this.stats.crc_errors++;
          else this.stats.utf8_errors++;
          this.emit("dropped", reason, detail);
        },
        handshake: () => {
          this.emit("handshake");
          if (this.options.answerHandshake !== false)
            void this.writeRaw('"""\x04"""\n').catch(() => undefined);
        },
      },
      options.maxLineBytes === undefined ? {} : { maxLineBytes: options.maxLineBytes },
    );
  }

  get isUp(): boolean {
    return this.transport?.isOpen === true;
  }

  /** Bytes handed to the port whose write has not completed: the backlog of a slow or stalled UART. */
  get pendingBytes(): number {
    return this.transport === undefined ? 0 : this.pending;
  }

  /** Opens the port once; rejects if it cannot. With `reconnect`, later unplugs are retried. */
  async open(): Promise<void> {
    this.stopped = false;
    await this.attempt();
  }

  /** Starts the link and keeps trying in the background until the port opens. */
  start(): void {
    this.stopped = false;
    this.attempt().catch(() => {
      this.scheduleRetry();
    });
  }

  /** Closes the port for good (no reconnect). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.idleTimer);
    const t = this.transport;
    this.transport = undefined;
    if (t !== undefined) {
      t.removeAllListeners("data");
      await t.close();
      this.framer.reset();
      this.emit("down");
    }
  }

  /** Sends one frame's JSON text; rejects with LINK_DOWN when the port is not open. */
  async send(json: string): Promise<void> {
    const mos = this.options.mosFraming === true;
    await this.writeRaw(encodeLine(json, { crc: mos || this.peerCrc, compat: mos || this.peerCompat }));
    this.stats.frames_out++;
  }

  /** Writes bytes as they are (handshakes, bootloader traffic). */
  async writeRaw(data: string | Uint8Array): Promise<void> {
    const t = this.transport;
    if (t?.isOpen !== true) throw new CcmError("LINK_DOWN", `${this.options.path} is not open`);
    const n = typeof data === "string" ? Buffer.byteLength(data) : data.length;
    this.stats.bytes_out += n;
    this.pending += n;
    try {
      await t.write(data);
    } finally {
      // A write of a port that has since closed no longer counts (the count restarted at 0).
      if (this.transport === t) {
        this.pending -= n;
        if (this.pending === 0) this.emit("drained");
      }
    }
  }

  /** Why the last open attempt failed, for status output. */
  get openError(): string {
    return this.lastOpenError;
  }

  private async attempt(): Promise<void> {
    const factory = this.options.transportFactory ?? createTransport;
    const t = factory(this.options.path, this.options.settings);
    try {
      await t.open();
    } catch (e) {
      this.lastOpenError = errorMessage(e);
      throw e;
    }
    if (this.stopped) {
      await t.close();
      return;
    }
    this.lastOpenError = "";
    if (this.opens++ > 0) this.stats.reconnects++;
    this.transport = t;
    this.pending = 0;
    this.backoff.reset();
    this.peerCrc = false;
    this.peerCompat = false;
    t.on("data", (chunk) => {
      this.stats.bytes_in += chunk.length;
      this.framer.push(chunk);
      this.armIdleFlush();
    });
    t.once("close", (error) => {
      if (this.transport !== t) return;
      this.transport = undefined;
      this.framer.reset();
      this.emit("down", error);
      if (!this.stopped && this.options.reconnect !== false) this.scheduleRetry();
    });
    this.emit("up");
  }

  private armIdleFlush(): void {
    const ms = this.options.idleFlushMs ?? 30;
    if (ms === 0) return;
    if (!this.framer.holding) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      return;
    }
    if (this.idleTimer === undefined) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        this.framer.flush();
      }, ms);
    } else {
      this.idleTimer.refresh();
    }
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.attempt().catch(() => {
        this.scheduleRetry();
      });
    }, this.backoff.next());
  }
}
