/**
 * Shared helpers of the conformance tests: a LIFO cleanup scope, a raw serial end that records every
 * byte, a parser of the byte stream written the way mos reads it (common/mgrpc/codec/stream.go), a
 * mos-style caller (handshake, `"""` + CRC framing, 16-byte chunks) and an mjson-style host
 * (cesanta/mjson, current and 2018 vintages), and a real Daemon on a temp data dir.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { TestContext } from "node:test";
import { crc32 } from "node:zlib";
import { loadConfig } from "../../src/config/load.js";
import { Daemon } from "../../src/daemon/daemon.js";
import { crc32Hex } from "../../src/framing/line-framer.js";
import { SerialPortTransport } from "../../src/transports/serial-port.js";
import { ptyPair, type PtyPair } from "../helpers/socat.js";

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the first truthy value of `probe()`, polling every 10 ms; rejects naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => T | undefined | null | false,
  what: string,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Things a test started, undone in reverse order after it (ports before the cable, the cable last). */
export class Scope {
  private readonly undo: (() => unknown)[] = [];

  constructor(t: TestContext) {
    t.after(async () => {
      for (const fn of this.undo.reverse()) {
        try {
          await fn();
        } catch {
          // best effort: keep undoing the rest
        }
      }
    });
  }

  defer(fn: () => unknown): void {
    this.undo.push(fn);
  }
}

/** A socat pty pair, killed (and its temp dir removed) after everything opened on it was closed. */
export async function cable(scope: Scope): Promise<PtyPair> {
  const pair = await ptyPair();
  scope.defer(async () => {
    await pair.kill();
    await rm(dirname(pair.a), { recursive: true, force: true });
  });
  return pair;
}

/** One end of the cable opened raw: every byte received is kept in `bytes`. */
export class RawPort {
  readonly transport: SerialPortTransport;
  bytes: Buffer = Buffer.alloc(0);
  private readonly listeners: ((chunk: Buffer) => void)[] = [];

  private constructor(path: string) {
    this.transport = new SerialPortTransport(path, { baudRate: 115200 });
    this.transport.on("data", (chunk) => {
      this.bytes = Buffer.concat([this.bytes, chunk]);
      for (const l of this.listeners) l(chunk);
    });
  }

  static async open(scope: Scope, path: string): Promise<RawPort> {
    const p = new RawPort(path);
    await p.transport.open();
    scope.defer(() => p.transport.close());
    return p;
  }

  onData(listener: (chunk: Buffer) => void): void {
    this.listeners.push(listener);
  }

  /** Everything received so far, as text (UTF-8). */
  get text(): string {
    return this.bytes.toString("utf8");
  }

  write(data: string | Uint8Array): Promise<void> {
    return this.transport.write(data);
  }

  /** Writes in `size`-byte chunks `delayMs` apart, as mos does at 115200 baud without flow control. */
  async writeChunked(data: string | Uint8Array, size = 16, delayMs = 5): Promise<void> {
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
    for (let i = 0; i < buf.length; i += size) {
      await this.transport.write(buf.subarray(i, Math.min(i + size, buf.length)));
      await sleep(delayMs);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// mos

/** The `"""` delimiter (mos's streamFrameDelimiter1) and the EOF byte of its handshake. */
export const TRIPLE = '"""';
export const EOF = "\x04";
/** What mos writes to open a conversation (serial.go WriteWithContext): `"""\x04"""\n\n`. */
export const MOS_HANDSHAKE = `${TRIPLE}${EOF}${TRIPLE}\n\n`;

/** A frame as mos's frameFromRxBuf cuts it out of the byte stream. */
export interface MosFrame {
  /** Bytes between the delimiters. */
  data: string;
  open: '"""' | "\n";
  close: '"""' | "\n";
  /** The JSON part (bytes up to the last `}`). */
  payload: string;
  /** Bytes after the last `}` (CRC and extra fields), "" if none. */
  meta: string;
  /** The CRC field of `meta`, if any, and whether it matches the payload (mos drops the connection if not). */
  crc?: string;
  crcOk?: boolean;
  /** The decoded payload; undefined when it is not JSON (mos drops such frames). */
  value?: Record<string, unknown>;
}

/**
 * Cuts frames out of a byte stream as mos does: a frame starts at `"""` or `\n` followed by `{` or
 * 0x04 and ends at the next `"""` or `\n`; anything else is junk. XON/XOFF are excised first.
 */
export class MosRxParser {
  private buf: Buffer = Buffer.alloc(0);
  junk = "";

  push(chunk: Buffer): MosFrame[] {
    const clean = Buffer.from(chunk.filter((b) => b !== 0x11 && b !== 0x13));
    this.buf = Buffer.concat([this.buf, clean]);
    const out: MosFrame[] = [];
    for (;;) {
      const b1 = this.buf.indexOf(TRIPLE);
      const b2 = this.buf.indexOf("\n");
      const begin = b1 < 0 ? b2 : b2 < 0 ? b1 : Math.min(b1, b2);
      if (begin < 0) {
        const keep = tailMatch(this.buf, TRIPLE);
        this.junk += this.buf.subarray(0, this.buf.length - keep).toString("utf8");
        this.buf = this.buf.subarray(this.buf.length - keep);
        return out;
      }
      if (begin > 0) {
        this.junk += this.buf.subarray(0, begin).toString("utf8");
        this.buf = this.buf.subarray(begin);
        continue;
      }
      const openLen = begin === b1 ? 3 : 1;
      if (this.buf.length <= openLen) return out;
      const next = this.buf[openLen];
      if (next !== 0x7b && next !== 0x04) {
        this.junk += this.buf.subarray(0, openLen).toString("utf8");
        this.buf = this.buf.subarray(openLen);
        continue;
      }
      const rest = this.buf.subarray(openLen);
      const e1 = rest.indexOf(TRIPLE);
      const e2 = rest.indexOf("\n");
      const end = e1 < 0 ? e2 : e2 < 0 ? e1 : Math.min(e1, e2);
      if (end < 0) return out;
      const closeLen = end === e1 ? 3 : 1;
      const data = rest.subarray(0, end).toString("utf8");
      this.buf = rest.subarray(end + closeLen);
      out.push(mosFrame(data, openLen === 3 ? TRIPLE : "\n", closeLen === 3 ? TRIPLE : "\n"));
    }
  }
}

function tailMatch(haystack: Buffer, needle: string): number {
  for (let l = needle.length; l > 0; l--) {
    if (haystack.subarray(Math.max(0, haystack.length - l)).toString("latin1") === needle.slice(0, l))
      return l;
  }
  return 0;
}

function mosFrame(data: string, open: MosFrame["open"], close: MosFrame["close"]): MosFrame {
  const trimmed = data.replace(/\s+$/, "");
  const last = trimmed.lastIndexOf("}");
  const payload = last < 0 ? trimmed : trimmed.slice(0, last + 1);
  const meta = last < 0 ? "" : trimmed.slice(last + 1);
  const f: MosFrame = { data, open, close, payload, meta };
  if (meta !== "") {
    const field = meta.split(",")[0] ?? "";
    f.crc = field;
    f.crcOk = /^[0-9a-fA-F]{1,16}$/.test(field) && parseInt(field, 16) === crc32(payload);
  }
  try {
    const v: unknown = JSON.parse(payload);
    if (typeof v === "object" && v !== null && !Array.isArray(v)) f.value = v as Record<string, unknown>;
  } catch {
    // not JSON: mos logs and drops it
  }
  return f;
}

/** A 13-digit id as mos makes them: rand.Int63n(1<<40) | 1<<40. */
export function mosId(): number {
  return 2 ** 40 + Math.floor(Math.random() * 2 ** 40);
}

/** A request as mos's Go encoder writes it: fields in frame.go order (src, tag, id, method, params), no spaces. */
export function mosRequest(
  id: number,
  method: string,
  extra: { tag?: string; params?: unknown; args?: unknown } = {},
): string {
  let s = `{"src":"mos"`;
  if (extra.tag !== undefined) s += `,"tag":${JSON.stringify(extra.tag)}`;
  s += `,"id":${id},"method":${JSON.stringify(method)}`;
  if (extra.params !== undefined) s += `,"params":${JSON.stringify(extra.params)}`;
  if (extra.args !== undefined) s += `,"args":${JSON.stringify(extra.args)}`;
  return `${s}}`;
}

/** mos's frame on the wire: `\n"""` + json + crc32 hex + `"""\n` (stream.go Send). */
export function mosFrameBytes(json: string, crc = crc32Hex(json)): string {
  return `\n${TRIPLE}${json}${crc}${TRIPLE}\n`;
}

/**
 * A mos-style caller on a raw port: before every frame it sends the handshake every 200 ms until the
 * other end echoes `"""\x04"""`, answers the echo with `"""`, then writes the frame in 16-byte chunks.
 */
export class MosCaller {
  readonly port: RawPort;
  readonly parser = new MosRxParser();
  /** Every frame received (handshake echoes included), in order. */
  readonly frames: MosFrame[] = [];
  echoes = 0;
  private awaitingEcho = false;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(port: RawPort) {
    this.port = port;
    port.onData((chunk) => {
      for (const f of this.parser.push(chunk)) {
        this.frames.push(f);
        if (f.data === EOF) {
          this.echoes++;
          if (this.awaitingEcho) {
            this.awaitingEcho = false;
            void port.write(TRIPLE).catch(() => undefined);
          }
        }
      }
    });
  }

  /** Handshakes, then writes `bytes` (a whole framed frame) chunked; serialised like mos's writeLock. */
  send(bytes: string): Promise<void> {
    const run = this.lock.then(async () => {
      const before = this.echoes;
      this.awaitingEcho = true;
      for (let i = 0; i < 25 && this.echoes === before; i++) {
        await this.port.writeChunked(MOS_HANDSHAKE);
        await sleep(200);
      }
      if (this.echoes === before) throw new Error("No response to handshake. Is rpc-uart enabled?");
      await this.port.writeChunked(bytes);
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** The response frame (no `method`) whose id is `id`, once it arrived. */
  response(id: number, timeoutMs = 5000): Promise<MosFrame> {
    return waitFor(
      () => this.frames.find((f) => f.value !== undefined && f.value.id === id && !("method" in f.value)),
      `a response with id ${id}`,
      timeoutMs,
    );
  }

  /** Sends a request as mos does and resolves with its response frame. */
  async call(
    method: string,
    extra: { tag?: string; params?: unknown; args?: unknown } = {},
  ): Promise<{ id: number; json: string; reply: MosFrame }> {
    const id = mosId();
    const json = mosRequest(id, method, extra);
    await this.send(mosFrameBytes(json));
    return { id, json, reply: await this.response(id) };
  }
}

// ---------------------------------------------------------------------------------------------
// mjson

/** An error a simulated mjson handler returns with jsonrpc_return_error(). */
export class MjsonError extends Error {
  readonly code: number;
  readonly dataJson: string | undefined;
  constructor(code: number, message: string, dataJson?: string) {
    super(message);
    this.code = code;
    this.dataJson = dataJson;
  }
}

/** An exported method: gets the raw params JSON ("" when absent), returns the result's JSON text. */
export type MjsonHandler = (paramsJson: string) => string;

export interface MjsonHostOptions {
  /**
   * `current`: src/mjson.c since 2021 (built-in `rpc.list`, `$.result` or `$.error` is a response).
   * `2018`: the header-only mjson of Nov 2018 (built-ins `Sys.Info` and `RPC.List`, only `$.result` is a
   * response, 256-byte line buffer, exact method match).
   */
  vintage: "current" | "2018";
  /** Exports, in jsonrpc_export() order (each is prepended to mjson's list). */
  exports: [string, MjsonHandler][];
}

/** mjson's `%Q`: escapes only `\b \f \n \r \t \\ \"`. */
export function mjsonQ(s: string): string {
  const map: Record<string, string> = {
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\\": "\\\\",
    '"': '\\"',
  };
  return `"${s.replace(/[\b\f\n\r\t\\"]/g, (c) => map[c] ?? c)}"`;
}

export const MJSON_2018_SYS_INFO =
  '{"fw_version":"1.0", "arch":"unknown_arch", "fw_id":"Nov 24 2018 09:10:27", "app":"unknown_app"}';

/**
 * A host MCU running mjson's JSON-RPC on a raw port: newline-delimited frames in, frames out written
 * byte for byte as mjson prints them (no jsonrpc, src or dst; the request's id echoed raw).
 */
export class MjsonHost {
  readonly port: RawPort;
  readonly options: MjsonHostOptions;
  /** Every frame received (without its newline), in order. */
  readonly received: string[] = [];
  /** Frames handed to response_cb (answers to the host's own calls). */
  readonly responses: string[] = [];
  /** Every frame written, in order. */
  readonly written: string[] = [];
  private line = "";
  /** Methods newest first, as mjson keeps its linked list. */
  private readonly methods: [string, MjsonHandler][] = [];

  constructor(port: RawPort, options: MjsonHostOptions) {
    this.port = port;
    this.options = options;
    const list: MjsonHandler = () => `[${this.methods.map(([n]) => JSON.stringify(n)).join(",")}]`;
    if (options.vintage === "current") {
      this.export("rpc.list", list);
    } else {
      this.export("Sys.Info", () => MJSON_2018_SYS_INFO);
      this.export("RPC.List", list);
    }
    for (const [name, fn] of options.exports) this.export(name, fn);
    port.onData((chunk) => {
      for (const ch of chunk.toString("latin1")) this.byte(ch);
    });
  }

  /** The methods `rpc.list` / `RPC.List` reports, newest first. */
  get methodNames(): string[] {
    return this.methods.map(([n]) => n);
  }

  /** Frames received that are requests or notifications (have a method), decoded. */
  get requests(): { id?: unknown; method: string; params?: unknown }[] {
    const out: { id?: unknown; method: string; params?: unknown }[] = [];
    for (const f of this.received) {
      try {
        const v = JSON.parse(f) as { method?: unknown };
        if (typeof v.method === "string") out.push(v as { method: string });
      } catch {
        // not JSON
      }
    }
    return out;
  }

  export(name: string, fn: MjsonHandler): void {
    this.methods.unshift([name, fn]);
  }

  /** Writes bytes as the firmware would print them (jsonrpc_call / mjson_printf output). */
  async write(text: string): Promise<void> {
    this.written.push(text);
    await this.port.write(Buffer.from(text, "latin1"));
  }

  private byte(ch: string): void {
    if (this.options.vintage === "2018" && this.line.length >= 256) this.line = ""; // overflow: silently reset
    if (ch === "\n") {
      const frame = this.line;
      this.line = "";
      if (frame.length > 1) this.process(frame);
    } else {
      this.line += ch;
    }
  }

  private process(frame: string): void {
    this.received.push(frame);
    let v: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(frame);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed))
        v = parsed as Record<string, unknown>;
    } catch {
      v = undefined;
    }
    const isResponse =
      v !== undefined &&
      (v.result !== undefined || (this.options.vintage === "current" && v.error !== undefined));
    if (isResponse) {
      this.responses.push(frame);
      return;
    }
    if (v === undefined || typeof v.method !== "string") {
      // The current API is handed the frame with its newline (the app delimits), the old one without.
      const echoed = this.options.vintage === "current" ? `${frame}\n` : frame;
      void this.write(`{"error":{"code":-32700,"message":${mjsonQ(echoed)}}}\n`).catch(() => undefined);
      return;
    }
    const id = v.id === undefined ? undefined : JSON.stringify(v.id);
    const params = v.params === undefined ? "" : JSON.stringify(v.params);
    const m = this.methods.find(([n]) => n === v.method);
    if (id === undefined) {
      // jsonrpc_return_* are no-ops without an id; run the handler for its side effects only.
      if (m !== undefined) {
        try {
          m[1](params);
        } catch {
          // ignored, as mjson would
        }
      }
      return;
    }
    let out: string;
    if (m === undefined) {
      out = `{"id":${id},"error":{"code":-32601,"message":"method not found"}}\n`;
    } else {
      try {
        out = `{"id":${id},"result":${m[1](params)}}\n`;
      } catch (e) {
        const err =
          e instanceof MjsonError ? e : new MjsonError(-32603, e instanceof Error ? e.message : String(e));
        const data = err.dataJson === undefined ? "" : `,"data":${err.dataJson}`;
        out = `{"id":${id},"error":{"code":${err.code},"message":${mjsonQ(err.message)}${data}}}\n`;
      }
    }
    void this.write(out).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// daemon

/** A Daemon (not started) whose host port is `hostPort`, with short probe timeouts; stopped after the test. */
export async function makeDaemon(
  scope: Scope,
  hostPort: string,
  host: Record<string, unknown> = {},
): Promise<Daemon> {
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-conformance-"));
  scope.defer(() => rm(dataDir, { recursive: true, force: true }));
  const config = loadConfig({
    overrides: {
      host: { port: hostPort, probe_ms: 300, ping_ms: 0, ...host },
      rpc: { http: { listen: "127.0.0.1:0" } },
    },
  });
  const daemon = new Daemon({ config, dataDir });
  scope.defer(() => daemon.stop());
  return daemon;
}
