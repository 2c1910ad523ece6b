/** Counts what a full queue dropped, and logs it at most once per interval, not once per message. */
import type { Logger } from "../log/logger.js";

/** A drop counter with a rate-limited warning. */
export class DropReport {
  /** Dropped since start. */
  total = 0;
  private unlogged = 0;
  private loggedAt = -Infinity;
  private readonly logger: Logger;
  private readonly what: (n: number) => string;
  private readonly intervalMs: number;

  /** `what(n)` words the warning for `n` drops since the last one. */
  constructor(logger: Logger, what: (n: number) => string, intervalMs = 10_000) {
    this.logger = logger;
    this.what = what;
    this.intervalMs = intervalMs;
  }

  /** Counts `n` drops; warns now unless it warned less than an interval ago. */
  add(n: number): void {
    if (n <= 0) return;
    this.total += n;
    this.unlogged += n;
    const now = Date.now();
    if (now - this.loggedAt < this.intervalMs) return;
    this.logger.warn(`${this.what(this.unlogged)} (${this.total} since start)`);
    this.unlogged = 0;
    this.loggedAt = now;
  }
}
