/**
 * Newline framing for the serial link (reference mos-protocols.md §2): one JSON frame per line,
 * mos's `"""` delimiters accepted, CR and XON/XOFF stripped, an optional CRC32 suffix checked.
 * Lines that do not open as a frame (`{"`, `{}`, a batch, `"""`) are the host's log output, even
 * `{wifi} up`. Pure: bytes in, callbacks out.
 */
import { crc32 } from "node:zlib";

/** Receives what the framer found in the byte stream. */
export interface FramerSink {
  /** A candidate JSON frame (not yet parsed). `crc` tells whether it carried a valid CRC32 suffix. */
  frame(text: string, info: FrameInfo): void;
  /** A line that is not a frame: the host's log output. */
  junk(text: string): void;
  /** A line that had to be dropped. */
  dropped(reason: DropReason, detail: string): void;
  /** mos's handshake: a frame made of the single byte 0x04. */
  handshake?(): void;
}

export interface FrameInfo {
  crc: boolean;
  /** Delimited by mos's `"""` rather than a bare newline. */
  compat: boolean;
}

export type DropReason = "oversize" | "crc" | "utf8";

export interface LineFramerOptions {
  /** Longest line accepted, delimiter excluded; longer lines are dropped up to the next newline. */
  maxLineBytes?: number;
}

/** Default bound on one line: 8 KiB. */
export const DEFAULT_MAX_LINE_BYTES = 8192;

const NL = 0x0a;
const XON = 0x11;
const XOFF = 0x13;
const TRIPLE_QUOTE = '"""';
const CRC_SUFFIX = /^([\s\S]*[}\]])([0-9a-fA-F]{8})(?:,[^}\]]*)?$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });
const lenientUtf8 = new TextDecoder("utf-8");

/** Splits a byte stream into frames and log lines, never holding more than `maxLineBytes`. */
export class LineFramer {
  readonly maxLineBytes: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private discarding = false;
  private readonly sink: FramerSink;

  constructor(sink: FramerSink, options: LineFramerOptions = {}) {
    this.sink = sink;
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  }

  /** Feeds bytes as they arrive, in chunks of any size. */
  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NL, start);
      if (nl === -1) {
        this.hold(chunk.subarray(start));
        return;
      }
      if (this.discarding) {
        this.discarding = false;
      } else if (this.pendingBytes + nl - start > this.maxLineBytes) {
        this.overflow(this.pendingBytes + nl - start);
      } else if (this.pendingBytes === 0) {
        this.line(chunk.subarray(start, nl));
      } else {
        this.pending.push(chunk.subarray(start, nl));
        const whole = Buffer.concat(this.pending, this.pendingBytes + nl - start);
        this.reset();
        this.line(whole);
      }
      start = nl + 1;
    }
  }

  /** Whether bytes of an unfinished line are held. */
  get holding(): boolean {
    return this.pendingBytes > 0 && !this.discarding;
  }

  /**
   * Delivers a held line that is already one complete JSON object, as when an mjson host prints
   * a frame with no newline after it. Call it when the line has gone quiet; returns whether it did.
   */
  flush(): boolean {
    if (!this.holding) return false;
    const held = Buffer.concat(this.pending, this.pendingBytes);
    let start = 0;
    while (start < held.length && held[start] !== 0x7b && (held[start]! <= 0x20 || held[start]! >= 0x7f))
      start++;
    if (held[start] !== 0x7b) return false;
    const text = held.toString("latin1", start);
    let end = jsonValueEnd(text, 0);
    while (end > 0 && end < text.length && text.charCodeAt(end) === 0x7b) end = jsonValueEnd(text, end);
    if (end !== text.trimEnd().length) return false;
    this.reset();
    this.line(held);
    return true;
  }

  /** Drops a partial line (the link went down mid-frame). */
  reset(): void {
    this.pending = [];
    this.pendingBytes = 0;
    this.discarding = false;
  }

  private hold(part: Buffer): void {
    if (this.discarding || part.length === 0) return;
    if (this.pendingBytes + part.length > this.maxLineBytes) {
      this.overflow(this.pendingBytes + part.length);
      this.discarding = true;
      return;
    }
    this.pending.push(Buffer.from(part));
    this.pendingBytes += part.length;
  }

  private overflow(seen: number): void {
    this.reset();
    this.sink.dropped("oversize", `line of more than ${this.maxLineBytes} bytes dropped (${seen} seen)`);
  }

  private line(raw: Buffer): void {
    const bytes = stripFlowControl(raw);
    let start = 0;
    let end = bytes.length;
    // Leading bytes that are not printable ASCII (boot noise, NULs) are line noise, not text.
    while (start < end && (bytes[start]! <= 0x20 || bytes[start]! >= 0x7f) && bytes[start] !== 0x04) start++;
    while (end > start && bytes[end - 1]! <= 0x20) end--;
    if (start === end) return;
    const first = bytes[start];
    if (first !== 0x22 && first !== 0x04 && !opensFrame(bytes, start)) {
      this.sink.junk(lenientUtf8.decode(bytes.subarray(start, end)));
      return;
    }
    let text: string;
    try {
      text = utf8.decode(bytes.subarray(start, end));
    } catch {
      this.sink.dropped("utf8", "frame is not valid UTF-8");
      return;
    }
    if (text.startsWith(TRIPLE_QUOTE)) {
      for (const part of text.split(TRIPLE_QUOTE)) {
        const trimmed = part.trim();
        if (trimmed !== "") this.candidate(trimmed, true);
      }
    } else if (first === 0x22) {
      this.sink.junk(text);
    } else {
      this.candidate(text, false);
    }
  }

  private candidate(text: string, compat: boolean): void {
    if (text === "\x04") {
      this.sink.handshake?.();
      return;
    }
    if (text.includes("}{")) {
      // mjson_printf adds no newline, so an Arduino host may glue frames together: {…}{…}
      const end = jsonValueEnd(text, 0);
      if (end > 0 && end < text.length && text.charCodeAt(end) === 0x7b) {
        this.sink.frame(text.slice(0, end), { crc: false, compat });
        this.candidate(text.slice(end), compat);
        return;
      }
    }
    const last = text.charCodeAt(text.length - 1);
    if (last === 0x7d || last === 0x5d) {
      this.sink.frame(text, { crc: false, compat });
      return;
    }
    const m = CRC_SUFFIX.exec(text);
    if (m === null) {
      this.sink.frame(text, { crc: false, compat });
      return;
    }
    const json = m[1]!;
    const want = parseInt(m[2]!, 16);
    if (crc32(json) !== want) {
      this.sink.dropped("crc", `CRC mismatch: frame says ${m[2]!}, computed ${crc32Hex(json)}`);
      return;
    }
    this.sink.frame(json, { crc: true, compat });
  }
}

/** CRC-32 (IEEE, as zlib) of a frame's JSON text, as 8 lowercase hex digits (mos's suffix). */
export function crc32Hex(json: string): string {
  return crc32(json).toString(16).padStart(8, "0");
}

/** Encodes one frame for the wire: `json[crc]\n`, or mos's `"""json[crc]"""\n` in compat mode. */
export function encodeLine(json: string, options: { crc?: boolean; compat?: boolean } = {}): string {
  const body = options.crc === true ? json + crc32Hex(json) : json;
  return options.compat === true ? `\n${TRIPLE_QUOTE}${body}${TRIPLE_QUOTE}\n` : `${body}\n`;
}

/**
 * The index just past the JSON object or array that opens at `start`, or -1 when it does not close
 * in `text`. Strings and escapes are honoured; everything else is only counted as brackets.
 */
export function jsonValueEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
    } else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

/**
 * Whether a line opens as a frame does: `{` then `"` or `}` (every JSON-RPC frame does), or a batch,
 * `[` then such a `{` or `]`; spaces allowed between. `{wifi} up` and `[INFO] boot` are log lines.
 */
function opensFrame(bytes: Buffer, start: number): boolean {
  const at = skipSpaces(bytes, start + 1);
  if (bytes[start] === 0x5b) return bytes[at] === 0x5d || (bytes[at] === 0x7b && opensFrame(bytes, at));
  return bytes[start] === 0x7b && (bytes[at] === 0x22 || bytes[at] === 0x7d);
}

function skipSpaces(bytes: Buffer, from: number): number {
  let i = from;
  while (bytes[i] === 0x20 || bytes[i] === 0x09) i++;
  return i;
}

function stripFlowControl(bytes: Buffer): Buffer {
  if (bytes.indexOf(XON) === -1 && bytes.indexOf(XOFF) === -1) return bytes;
  return Buffer.from(bytes.filter((b) => b !== XON && b !== XOFF));
}
