/**
 * A progress display for long transfers: a redrawn bar with bytes, rate and ETA on a TTY; plain
 * lines (every 10 %, and at the end of a phase) otherwise, so logs stay readable.
 */

export interface ProgressSink {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

function kib(n: number): string {
  return `${(n / 1024).toFixed(1)} KiB`;
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  return s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`;
}

/** Shows progress of named phases (erase, write, verify…), each with done/total units. */
export class ProgressBar {
  private readonly out: ProgressSink;
  private readonly now: () => number;
  private phase = "";
  private started = 0;
  private lastTenth = -1;
  private drawn = false;

  constructor(out: ProgressSink, now: () => number = () => performance.now()) {
    this.out = out;
    this.now = now;
  }

  /** `bytes`: done and total are bytes (KiB, rate, ETA shown); otherwise units (pages). */
  update(phase: string, done: number, total: number, bytes = true): void {
    if (phase !== this.phase) {
      this.finishLine();
      this.phase = phase;
      this.started = this.now();
      this.lastTenth = -1;
    }
    const elapsed = (this.now() - this.started) / 1000;
    const fraction = total === 0 ? 1 : done / total;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY;
    const amount = bytes ? `${kib(done)}/${kib(total)}` : `${done}/${total}`;
    const speed = bytes ? ` ${(rate / 1000).toFixed(1)} kB/s` : "";
    const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
    const tail = `${phase.padEnd(6)} ${pct} ${amount}${speed}${done < total ? ` ETA ${duration(eta)}` : ` in ${duration(elapsed)}`}`;
    if (this.out.isTTY === true) {
      const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - tail.length - 4));
      const filled = Math.round(fraction * width);
      this.out.write(`\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${tail}\x1b[K`);
      this.drawn = true;
      if (done >= total) this.finishLine();
      return;
    }
    const tenth = Math.floor(fraction * 10);
    if (tenth !== this.lastTenth) {
      this.lastTenth = tenth;
      this.out.write(`${tail}\n`);
    }
  }

  /** Ends a redrawn line (before other output). */
  finishLine(): void {
    if (this.drawn) this.out.write("\n");
    this.drawn = false;
  }
}
