/**
 * Store-and-forward for QoS 1 publishes while the broker cannot be reached: a bounded queue kept in
 * a file of JSON lines, each line fsynced before the publish counts as accepted, so a queue survives
 * a crash or a restart. When full, the oldest messages are dropped and counted. Removal rewrites the
 * file atomically, a batch at a time.
 */
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { atomicWriteFileSync } from "../util/atomic-file.js";

/** One queued publish. */
export interface QueuedMessage {
  topic: string;
  payload: string;
  retain: boolean;
}

/** A bounded, persistent FIFO of messages waiting for the broker. */
export class Outbox {
  /** Messages dropped because the queue was full, since start. */
  dropped = 0;
  /** Lines of the file that could not be read at load (a write torn by a crash). */
  readonly skipped: number;
  private readonly items: QueuedMessage[] = [];
  private readonly path: string;
  private readonly max: number;

  /** Opens (or creates) the queue in `path`, holding at most `max` messages. */
  constructor(path: string, max: number) {
    this.path = path;
    this.max = max;
    let text = "";
    try {
      text = readFileSync(path, "utf8");
    } catch {
      // No queue yet.
    }
    let skipped = 0;
    for (const line of text.split("\n")) {
      if (line === "") continue;
      try {
        const m = JSON.parse(line) as Partial<QueuedMessage>;
        if (typeof m.topic === "string" && typeof m.payload === "string")
          this.items.push({ topic: m.topic, payload: m.payload, retain: m.retain === true });
        else skipped++;
      } catch {
        skipped++;
      }
    }
    this.skipped = skipped;
    if (skipped > 0 || this.items.length > max) {
      this.dropped += Math.max(0, this.items.length - max);
      this.items.splice(0, Math.max(0, this.items.length - max));
      this.rewrite();
    }
  }

  get size(): number {
    return this.items.length;
  }

  /** Queues a message durably; when full, drops the oldest first (returns how many were dropped). */
  push(m: QueuedMessage): number {
    this.items.push(m);
    if (this.items.length > this.max) {
      const n = this.items.length - this.max;
      this.items.splice(0, n);
      this.dropped += n;
      this.rewrite();
      return n;
    }
    const fd = openSync(this.path, "a", 0o600);
    try {
      writeSync(fd, `${JSON.stringify(m)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return 0;
  }

  /** The oldest `n` messages, still queued. */
  peek(n: number): QueuedMessage[] {
    return this.items.slice(0, n);
  }

  /** Removes the oldest `n` messages (they were delivered). */
  remove(n: number): void {
    if (n <= 0) return;
    this.items.splice(0, n);
    this.rewrite();
  }

  private rewrite(): void {
    atomicWriteFileSync(this.path, this.items.map((m) => `${JSON.stringify(m)}\n`).join(""));
  }
}
