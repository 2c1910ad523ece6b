/** One digital line (a GPIO, a modem-control pin): read and watch it, or drive it. */

export type Level = 0 | 1;

/** A line the CCM reads: the factory-reset button. */
export interface InputLine {
  read(): Promise<Level>;
  /** Calls `onChange` with each new level until the returned function is called; `onError` if watching fails. */
  watch(onChange: (level: Level) => void, onError?: (e: unknown) => void): () => void;
}

/** A line the CCM drives: the status LED. */
export interface OutputLine {
  write(level: Level): void;
  /** Alternates the line from `first`, switching every `halfMs`, until the next write, blink or close; for backends that blink by themselves. */
  blink?(first: Level, halfMs: number): void;
  /** Releases the line. */
  close(): void;
}
