/** `--port` URLs as the clients read them: a bad one is the user's mistake (BAD_ARGUMENT), not a crash. */
import { CcmError } from "../../errors.js";

/** Parses a `--port` URL; throws BAD_ARGUMENT naming it when it is not one. */
export function parsePortUrl(port: string): URL {
  try {
    return new URL(port);
  } catch {
    throw new CcmError("BAD_ARGUMENT", `--port ${JSON.stringify(port)} is not a valid URL`);
  }
}

/** %-decodes one part of a `--port` URL; throws BAD_ARGUMENT naming `what` when the encoding is broken. */
export function decodePortPart(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new CcmError("BAD_ARGUMENT", `the ${what} in --port is not valid %-encoding`);
  }
}
