/** Parsing of the global options every command shares. */
import { readFile } from "node:fs/promises";
import { parseCredentials, type Credentials } from "../rpc/auth-client.js";
import { CliError, EXIT } from "./output.js";

export interface GlobalOptions {
  port?: string;
  rpcCreds?: string;
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

/** `--rpc-creds user:pass` or `--rpc-creds @file` (a file holding `user:pass`), as mos takes them. */
export async function readCredentials(text: string | undefined): Promise<Credentials | undefined> {
  if (text === undefined || text === "") return undefined;
  let raw = text;
  if (text.startsWith("@")) {
    try {
      raw = await readFile(text.slice(1), "utf8");
    } catch (e) {
      throw new CliError(
        `cannot read --rpc-creds file: ${e instanceof Error ? e.message : String(e)}`,
        EXIT.usage,
      );
    }
  }
  const creds = parseCredentials(raw.trim());
  if (creds === undefined)
    throw new CliError("--rpc-creds must be user:pass or @file holding user:pass", EXIT.usage);
  return creds;
}

/** What every client command needs to open a connection, from the global options. */
export async function clientOptions(
  g: GlobalOptions,
): Promise<{ timeoutMs: number; baudRate: number; creds?: Credentials }> {
  const creds = await readCredentials(g.rpcCreds);
  return {
    timeoutMs: parseDuration(g.timeout),
    baudRate: parseIntOption(g.baudRate, "--baud-rate"),
    ...(creds === undefined ? {} : { creds }),
  };
}
