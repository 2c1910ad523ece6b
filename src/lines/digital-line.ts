/** One digital line (a GPIO, a modem-control pin): read and watch it, or drive it. */

export type Level = 0 | 1;

/** A line the CCM reads: the factory-reset button. */
export interface InputLine {
  read(): Promise<Level>;
  /** Calls `onChange` with each new level until the returned function is called. */
  watch(onChange: (level: Level) => void): () => void;
}

/** A line the CCM drives: the status LED. */
export interface OutputLine {
  write(level: Level): void;
  /** Releases the line. */
  close(): void;
}
