/**
 * The factory-reset button (provision.btn): held pressed for `holdMs` it triggers the reset; with
 * `holdMs` 0 the reset happens when the button is already held as the CCM starts. With `holdMs` > 0
 * a press counts from its start, as Mongoose OS arms on the press edge: a button already held when
 * the CCM starts (still held after the reset it caused, which restarts the components) counts only
 * once released and pressed again, so one long press is one reset.
 */
import type { InputLine, Level } from "../lines/digital-line.js";
import type { Clock } from "../util/clock.js";

/** The button line, timing and what to do on a long press. */
export interface ResetButtonOptions {
  line: InputLine;
  clock: Clock;
  holdMs: number;
  /** Pressed pulls the line low (pull-up wiring); otherwise pressed is high. */
  activeLow: boolean;
  onReset: () => void;
  onError?: (e: unknown) => void;
}

/** Watches the button line and calls `onReset` on a long enough press. */
export class ResetButton {
  private readonly o: ResetButtonOptions;
  private timer: unknown;
  private unwatch: (() => void) | undefined;
  private fired = false;
  /** Whether the button was seen released since start: only then does a press count. */
  private armed = false;

  constructor(options: ResetButtonOptions) {
    this.o = options;
  }

  /** Reads the line once, then watches it. */
  async start(): Promise<void> {
    let level: Level;
    try {
      level = await this.o.line.read();
    } catch (e) {
      this.o.onError?.(e);
      return;
    }
    if (this.pressed(level) && this.o.holdMs === 0) {
      this.fire();
      return;
    }
    this.unwatch = this.o.line.watch(
      (l) => {
        this.level(l);
      },
      (e) => this.o.onError?.(e),
    );
    this.level(level);
  }

  /** Stops watching. */
  stop(): void {
    this.unwatch?.();
    this.unwatch = undefined;
    this.cancel();
  }

  private level(l: Level): void {
    if (!this.pressed(l)) {
      this.armed = true;
      this.cancel();
      return;
    }
    if (!this.armed || this.o.holdMs === 0 || this.timer !== undefined) return;
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = undefined;
      this.fire();
    }, this.o.holdMs);
  }

  private pressed(l: Level): boolean {
    return this.o.activeLow ? l === 0 : l === 1;
  }

  private fire(): void {
    if (this.fired) return;
    this.fired = true;
    this.stop();
    this.o.onReset();
  }

  private cancel(): void {
    if (this.timer !== undefined) this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
