/**
 * A small leveled logger writing one line per event to stderr. Levels follow Mongoose OS
 * `debug.level`: 0 error, 1 warn, 2 info, 3 debug, 4 verbose.
 */
export type LogLevel = 0 | 1 | 2 | 3 | 4;

const names = ["error", "warn", "info", "debug", "verbose"] as const;

export interface Logger {
  readonly level: LogLevel;
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  verbose(msg: string): void;
  /** A logger whose lines carry `[component]`. */
  child(component: string): Logger;
}

/** Creates a logger writing to `write` (stderr by default) at `level` and below. */
export function createLogger(
  level: LogLevel = 2,
  write: (line: string) => void = (l) => process.stderr.write(l),
  component = "",
): Logger {
  const emit = (at: LogLevel, msg: string): void => {
    if (at > level) return;
    const tag = component === "" ? "" : ` [${component}]`;
    write(`${new Date().toISOString()} ${names[at].padEnd(7)}${tag} ${msg}\n`);
  };
  return {
    level,
    error: (m) => {
      emit(0, m);
    },
    warn: (m) => {
      emit(1, m);
    },
    info: (m) => {
      emit(2, m);
    },
    debug: (m) => {
      emit(3, m);
    },
    verbose: (m) => {
      emit(4, m);
    },
    child: (c) => createLogger(level, write, component === "" ? c : `${component}/${c}`),
  };
}

/** A logger that drops everything (library default). */
export const silentLogger: Logger = createLogger(0, () => undefined);
