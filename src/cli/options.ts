/** Parsing of the global options every command shares. */
import { CliError, EXIT } from "./output.js";

export interface GlobalOptions {
  port?: string;
  baudRate: string;
  timeout: string;
  json?: true;
}

/** `10s`, `500ms`, `2m` or plain milliseconds → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (m === null)
    throw new CliError(`bad duration "${text}": use 10s, 500ms, 2m or milliseconds`, EXIT.usage);
  const n = Number(m[1]);
  const unit = m[2] ?? "ms";
  return Math.round(unit === "ms" ? n : unit === "s" ? n * 1000 : n * 60_000);
}

/** A positive integer option, or a usage error naming the flag. */
export function parseIntOption(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0)
    throw new CliError(`${flag} must be a positive integer, got "${text}"`, EXIT.usage);
  return n;
}

/** The `--port`, or a usage error saying how to give one. */
export function requirePort(opts: GlobalOptions): string {
  if (opts.port === undefined || opts.port === "") {
    throw new CliError("no device: give --port PATH (a serial path or tcp://host:port)", EXIT.usage);
  }
  return opts.port;
}

/** The global options as seen from a subcommand (commander types them per command). */
export function globalsOf(cmd: { optsWithGlobals(): object }): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}
