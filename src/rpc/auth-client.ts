/** The caller's half of digest auth: answering a 401 challenge in a frame (§6.2–6.3) or over HTTP. */
import { randomInt } from "node:crypto";
import { digestHex, frameDigestResponse, parseDigestHeader, type DigestAlgorithm } from "./auth.js";

export interface Credentials {
  user: string;
  pass: string;
}

/** Parses `user:pass`. */
export function parseCredentials(text: string): Credentials | undefined {
  const i = text.indexOf(":");
  if (i <= 0) return undefined;
  return { user: text.slice(0, i), pass: text.slice(i + 1).replace(/\r?\n$/, "") };
}

/** The `auth` object answering an in-frame 401 challenge, or undefined when the message is no challenge. */
export function answerFrameChallenge(
  message: string | undefined,
  creds: Credentials,
): Record<string, unknown> | undefined {
  let c: { auth_type?: unknown; nonce?: unknown; realm?: unknown; algorithm?: unknown };
  try {
    c = JSON.parse(message ?? "") as typeof c;
  } catch {
    return undefined;
  }
  if (
    c.auth_type !== "digest" ||
    (typeof c.nonce !== "number" && typeof c.nonce !== "string") ||
    typeof c.realm !== "string"
  ) {
    return undefined;
  }
  const algorithm: DigestAlgorithm = c.algorithm === "SHA-256" ? "SHA-256" : "MD5";
  const ha1 = digestHex(algorithm, `${creds.user}:${c.realm}:${creds.pass}`);
  const cnonce = randomInt(1, 2 ** 32);
  const auth: Record<string, unknown> = {
    realm: c.realm,
    username: creds.user,
    nonce: c.nonce,
    cnonce,
    response: frameDigestResponse(ha1, String(c.nonce), String(cnonce), algorithm),
  };
  if (algorithm !== "MD5") auth.algorithm = algorithm;
  return auth;
}

/** An `Authorization: Digest …` header answering a `WWW-Authenticate` challenge (RFC 7616, qop=auth). */
export function answerHttpChallenge(
  wwwAuthenticate: string,
  creds: Credentials,
  method: string,
  uri: string,
): string | undefined {
  const c = parseDigestHeader(wwwAuthenticate);
  if (c?.nonce === undefined || c.realm === undefined) return undefined;
  const algorithm: DigestAlgorithm = c.algorithm?.toUpperCase() === "SHA-256" ? "SHA-256" : "MD5";
  const ha1 = digestHex(algorithm, `${creds.user}:${c.realm}:${creds.pass}`);
  const ha2 = digestHex(algorithm, `${method}:${uri}`);
  const nc = "00000001";
  const cnonce = String(randomInt(1, 2 ** 32));
  const response = digestHex(algorithm, `${ha1}:${c.nonce}:${nc}:${cnonce}:auth:${ha2}`);
  const opaque = c.opaque === undefined ? "" : `, opaque="${c.opaque}"`;
  return (
    `Digest username="${creds.user}", realm="${c.realm}", nonce="${c.nonce}", uri="${uri}", ` +
    `algorithm=${algorithm}, qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}"${opaque}`
  );
}
