/**
 * The status LED shows the provisioning state (mongoose-os-libs/provision): unprovisioned blinks once
 * a second, configured every 0.5 s, network up every 0.25 s; stable (provisioned) is solid on.
 */
import type { Level, OutputLine } from "../lines/digital-line.js";
import type { Clock } from "../util/clock.js";

/** Half-period of the blink for each state below the stable one, in ms. */
export const BLINK_MS: readonly number[] = [500, 250, 125, 125];

/** Drives an LED line from the provisioning state. */
export class StatusLed {
  private readonly line: OutputLine;
  private readonly clock: Clock;
  private readonly activeHigh: boolean;
  private timer: unknown;
  private lit = false;
  /** What the LED shows now (`on`, `blink 500`), so the same state shown again changes nothing. */
  private showing: string | undefined;

  constructor(line: OutputLine, clock: Clock, activeHigh: boolean) {
    this.line = line;
    this.clock = clock;
    this.activeHigh = activeHigh;
  }

  /**
   * Shows `state`: solid when it has reached `stable`, else blinking at the state's rate, starting
   * lit. A line that blinks by itself (libgpiod 2.x) is told once; others are toggled from here.
   */
  show(state: number, stable: number): void {
    const half = BLINK_MS[state] ?? 125;
    const pattern = state >= stable ? "on" : `blink ${half}`;
    if (pattern === this.showing) return;
    this.showing = pattern;
    this.cancel();
    if (state >= stable) {
      this.set(true);
      return;
    }
    if (this.line.blink !== undefined) {
      this.lit = true;
      this.line.blink(this.level(true), half);
      return;
    }
    this.lit = false;
    const tick = (): void => {
      this.set(!this.lit);
      this.timer = this.clock.setTimeout(tick, half);
    };
    tick();
  }

  /** Turns the LED off and releases the line. */
  close(): void {
    this.cancel();
    this.showing = undefined;
    this.set(false);
    this.line.close();
  }

  private set(on: boolean): void {
    this.lit = on;
    this.line.write(this.level(on));
  }

  private level(on: boolean): Level {
    return on === this.activeHigh ? 1 : 0;
  }

  private cancel(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
