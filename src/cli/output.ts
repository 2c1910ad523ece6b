/** What the CLI prints and how it exits. */
import { CcmError } from "../errors.js";

/** Exit codes scripts can rely on. */
export const EXIT = {
  ok: 0,
  /** The device answered with an error. */
  remoteError: 1,
  /** Bad command line or arguments, or an invalid firmware file or bundle. */
  usage: 2,
  /** No answer in time, or the port could not be opened. */
  unreachable: 3,
} as const;

/** An error that ends the CLI with a message and an exit code. */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Maps a failed call to the message and exit code the CLI reports. */
export function callFailure(e: unknown): CliError {
  if (e instanceof CcmError) {
    if (e.code === "RPC_REMOTE" && e.rpcCode === 401) {
      return new CliError("error 401: unauthorized: give, or check, --rpc-creds user:pass", EXIT.remoteError);
    }
    if (e.code === "RPC_REMOTE") {
      const data = e.data === undefined ? "" : ` ${JSON.stringify(e.data)}`;
      return new CliError(`error ${e.rpcCode}: ${e.message}${data}`, EXIT.remoteError);
    }
    if (e.code === "RPC_TIMEOUT") return new CliError(`timeout: ${e.message}`, EXIT.unreachable);
    // A bad argument, or a bundle/image file that is not what it claims: the command line is at fault.
    if (e.code === "BAD_ARGUMENT" || e.code === "BUNDLE_INVALID") return new CliError(e.message, EXIT.usage);
    return new CliError(e.message, EXIT.unreachable);
  }
  return new CliError(e instanceof Error ? e.message : String(e), EXIT.remoteError);
}

/** Prints a result: 2-space pretty JSON as mos does, or compact with `--json`. */
export function printResult(result: unknown, json: boolean): void {
  process.stdout.write(`${JSON.stringify(result, null, json ? undefined : 2)}\n`);
}
