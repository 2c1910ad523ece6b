/**
 * The QoS 1 outbox: every QoS 1 publish of the host is on disk from before the host is told it was
 * accepted until the broker's PUBACK, so neither a lost broker nor a killed CCM loses it (at least
 * once: a crash between a PUBACK and its record sends that message again).
 *
 * One file of JSON lines: `{"s":N,"topic":…,"payload":…,"retain":…}` is message N, `{"done":N}` says
 * it left (acknowledged, refused or dropped). One writer appends in group commits: the lines that
 * arrive while a write + fdatasync is under way go together in the next one, so the rate is the
 * disk's fsync rate times the batch, not one fsync per message. When the file holds many more lines
 * than messages it is rewritten atomically with the live ones. A line torn by a crash is skipped
 * and counted. Bounded: at most `max` messages; when full the oldest go first, counted.
 */
import { readFileSync } from "node:fs";
import { open, rename, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { CcmError, errorMessage } from "../errors.js";
import { atomicWriteFileSync } from "../util/atomic-file.js";

/** One queued publish. */
export interface QueuedMessage {
  topic: string;
  payload: string;
  retain: boolean;
}

/** A queued publish and its place in the queue. */
export interface OutboxEntry extends QueuedMessage {
  readonly seq: number;
}

/** What push() did: how many of the oldest it dropped, and when the message is on disk. */
export interface Pushed {
  entry: OutboxEntry;
  dropped: number;
  /** Resolves once the message's line is fsynced; rejects (STORE_FAILED) if it could not be written. */
  durable: Promise<void>;
}

/** The file is rewritten when it has this many lines and four times as many as live messages. */
const COMPACT_LINES = 1024;

/** The next group commit: every message pushed until its write starts shares its promise. */
interface Group {
  durable: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** A bounded, persistent FIFO of QoS 1 messages between the host and the broker's PUBACK. */
export class Outbox {
  /** Messages dropped because the queue was full, since start. */
  dropped = 0;
  /** Lines of the file that could not be read at load (a write torn by a crash). */
  readonly skipped: number;
  private readonly live = new Map<number, OutboxEntry>();
  private readonly path: string;
  private readonly max: number;
  private nextSeq = 1;
  /** Every message up to this seq is on disk. */
  private durableSeq = 0;
  /** takeDurable() has given out every message below this seq. */
  private takeFrom = 1;
  private fileLines = 0;
  private lines: string[] = [];
  private group: Group | undefined;
  private writer: Promise<void> = Promise.resolve();
  private writing = false;
  private file: FileHandle | undefined;
  private mustRewrite = false;
  private closed = false;
  private readonly onWritten: ((error?: CcmError) => void) | undefined;

  /**
   * Opens (or creates) the queue in `path`, holding at most `max` messages. `onWritten` is told after
   * each group commit (with the error when the disk refused it), before the pushers hear of it.
   */
  constructor(path: string, max: number, onWritten?: (error?: CcmError) => void) {
    this.path = path;
    this.max = max;
    this.onWritten = onWritten;
    let text = "";
    try {
      text = readFileSync(path, "utf8");
    } catch {
      // No queue yet.
    }
    let skipped = 0;
    let lines = 0;
    for (const line of text.split("\n")) {
      if (line === "") continue;
      lines++;
      const seq = this.load(line);
      if (seq === undefined) skipped++;
      else this.nextSeq = Math.max(this.nextSeq, seq + 1);
    }
    this.skipped = skipped;
    const over = Math.max(0, this.live.size - max);
    for (const seq of [...this.live.keys()].slice(0, over)) this.live.delete(seq);
    this.dropped += over;
    this.durableSeq = this.nextSeq - 1;
    this.takeFrom = this.live.keys().next().value ?? this.nextSeq;
    this.fileLines = lines;
    if (lines !== this.live.size) {
      // Torn lines, done records or drops: start from a clean file (appends after a torn line would be lost).
      atomicWriteFileSync(path, this.snapshot());
      this.fileLines = this.live.size;
    }
  }

  /** Messages in the queue: waiting for the broker or for its PUBACK. */
  get size(): number {
    return this.live.size;
  }

  /** Queues a message; when full, drops the oldest first. It is durable when `durable` resolves. */
  push(m: QueuedMessage): Pushed {
    if (this.closed) throw new CcmError("LINK_DOWN", "the MQTT outbox is closed");
    const entry: OutboxEntry = { seq: this.nextSeq++, topic: m.topic, payload: m.payload, retain: m.retain };
    this.live.set(entry.seq, entry);
    this.lines.push(`${JSON.stringify({ s: entry.seq, ...m })}\n`);
    this.group ??= newGroup();
    const durable = this.group.durable;
    let dropped = 0;
    while (this.live.size > this.max) {
      const oldest = this.live.keys().next().value as number;
      this.done(oldest);
      dropped++;
    }
    this.dropped += dropped;
    this.kick();
    return { entry, dropped, durable };
  }

  /** The messages that became durable since the last call, oldest first (to be sent now). */
  takeDurable(): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (; this.takeFrom <= this.durableSeq; this.takeFrom++) {
      const e = this.live.get(this.takeFrom);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  /** Removes message `seq` (acknowledged, refused or dropped); false if it was no longer queued. */
  done(seq: number): boolean {
    if (!this.live.delete(seq)) return false;
    if (this.closed) return true;
    this.lines.push(`{"done":${seq}}\n`);
    this.kick();
    return true;
  }

  /** The oldest `n` messages, still queued. */
  peek(n: number): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (const e of this.live.values()) {
      if (out.length >= n) break;
      out.push(e);
    }
    return out;
  }

  /** Resolves when everything pushed or done so far is on disk. */
  async flush(): Promise<void> {
    while (this.writing) await this.writer;
  }

  /** Writes what is pending and closes the file; later pushes throw. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    const f = this.file;
    this.file = undefined;
    await f?.close();
  }

  private load(line: string): number | undefined {
    try {
      const m = JSON.parse(line) as { s?: unknown; done?: unknown; topic?: unknown; payload?: unknown };
      if (typeof m.done === "number") {
        this.live.delete(m.done);
        return m.done;
      }
      if (typeof m.topic !== "string" || typeof m.payload !== "string") return undefined;
      // Lines without `s` were written before messages had numbers: they come in file order.
      const seq = typeof m.s === "number" ? m.s : this.nextSeq;
      this.live.set(seq, {
        seq,
        topic: m.topic,
        payload: m.payload,
        retain: (m as { retain?: unknown }).retain === true,
      });
      return seq;
    } catch {
      return undefined;
    }
  }

  private snapshot(): string {
    let out = "";
    for (const e of this.live.values())
      out += `${JSON.stringify({ s: e.seq, topic: e.topic, payload: e.payload, retain: e.retain })}\n`;
    return out;
  }

  private kick(): void {
    if (this.writing) return;
    this.writing = true;
    this.writer = this.writeLoop();
  }

  /** The one writer: appends what accumulated, fsyncs, wakes those who waited; again until idle. */
  private async writeLoop(): Promise<void> {
    for (;;) {
      // In the same step that sees nothing left, so that no line pushed later is left behind.
      if (this.lines.length === 0 && this.group === undefined) {
        this.writing = false;
        return;
      }
      const lines = this.lines;
      const group = this.group;
      const upTo = this.nextSeq - 1;
      this.lines = [];
      this.group = undefined;
      try {
        if (this.mustRewrite || (this.fileLines >= COMPACT_LINES && this.fileLines > 4 * this.live.size))
          await this.rewrite();
        else await this.append(lines);
        this.mustRewrite = false;
        this.durableSeq = upTo;
        this.onWritten?.();
        group?.resolve();
      } catch (e) {
        // Messages that did not reach the disk are not accepted; the file may end in a torn line.
        for (let seq = this.durableSeq + 1; seq <= upTo; seq++) this.live.delete(seq);
        this.durableSeq = upTo;
        this.mustRewrite = true;
        const error = new CcmError("STORE_FAILED", `cannot write ${this.path}: ${errorMessage(e)}`, {
          cause: e,
        });
        this.onWritten?.(error);
        group?.reject(error);
      }
    }
  }

  private async append(lines: string[]): Promise<void> {
    if (this.file === undefined) {
      this.file = await open(this.path, "a", 0o600);
      await syncDir(this.path);
    }
    await this.file.write(lines.join(""));
    await this.file.datasync();
    this.fileLines += lines.length;
  }

  /** Replaces the file with the live messages (temp file, fsync, rename, directory fsync). */
  private async rewrite(): Promise<void> {
    const tmp = `${this.path}.tmp-${process.pid}`;
    const data = this.snapshot();
    const count = this.live.size;
    const f = await open(tmp, "w", 0o600);
    try {
      await f.write(data);
      await f.datasync();
    } finally {
      await f.close();
    }
    const old = this.file;
    this.file = undefined;
    await old?.close();
    await rename(tmp, this.path);
    await syncDir(this.path);
    this.fileLines = count;
  }
}

function newGroup(): Group {
  const group: Partial<Group> = {};
  group.durable = new Promise<void>((resolve, reject) => {
    group.resolve = resolve;
    group.reject = reject;
  });
  // A publisher that does not wait for the disk (a notification) must not crash the process.
  group.durable.catch(() => undefined);
  return group as Group;
}

async function syncDir(path: string): Promise<void> {
  const dir = await open(dirname(path), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
