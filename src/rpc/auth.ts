/**
 * RPC authentication and authorisation as Mongoose OS does it (reference mos-protocols.md §6):
 * htdigest users, a JSON ACL of {method, ch_type, acl} with the first match winning, in-frame digest
 * credentials and the 401 challenge. Better than the original: every nonce is issued by us, expires,
 * and is single-use (HTTP digest: its nc must grow) without a table a flood of challenges could fill
 * (nonces.ts), and failed logins are rate-limited per source
 * (per user name where the caller names itself, as over MQTT).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { CcmError } from "../errors.js";
import { systemClock, type Clock } from "../util/clock.js";
import type { RequestFrame, RpcErrorObject } from "./frame.js";
import { globMatch } from "./match.js";
import { NonceBook } from "./nonces.js";

export type DigestAlgorithm = "MD5" | "SHA-256";

/** One ACL rule: which methods, on which channel type, for whom (`*`, `-*`, `+alice,-bob`). */
export interface AclEntry {
  method: string;
  ch_type?: string;
  acl: string;
}

/** Who may call: users by name (HA1 per realm) and the ACL. */
export interface AuthConfig {
  realm: string;
  algorithm?: DigestAlgorithm;
  /** user → HA1 hex for `realm`, from an htdigest file. Null: no users configured. */
  users: ReadonlyMap<string, string> | null;
  /** Null: no ACL (with users: any authenticated user; without: everybody). */
  acl: readonly AclEntry[] | null;
  /** Channel types exempt from auth (the host's own link). */
  trusted?: readonly string[];
  /** Channel types that need a login when users exist but no ACL does: network channels. */
  network?: readonly string[];
  /**
   * Channel types whose callers name themselves (MQTT's `src`): no source the CCM could trust, so
   * failed logins there count against the user name tried. Default `["MQTT"]`.
   */
  selfNamed?: readonly string[];
  /** Lifetime of an issued nonce: 5 minutes. */
  nonceTtlMs?: number;
  /** Failed logins from one source (self-named channels: for one user) before a `lockoutMs` refusal: 5. */
  maxFailures?: number;
  lockoutMs?: number;
  clock?: Clock;
}

/** The outcome of checking one request. */
export type AuthResult = { ok: true; user?: string } | { ok: false; error: RpcErrorObject };

/** What a channel knows about the caller beyond the frame. */
export interface AuthSubject {
  channel: string;
  /** Address the rate limiter counts failures by (not on self-named channels: the user name tried). */
  source: string;
  /** Already authenticated by the channel (HTTP Authorization, WS handshake). */
  user?: string;
}

/** Parses an htdigest file (`user:realm:HA1` lines) into user → HA1 for `realm`. */
export function parseHtdigest(text: string, realm: string): Map<string, string> {
  const users = new Map<string, string>();
  text.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const parts = trimmed.split(":");
    if (parts.length !== 3 || !/^[0-9a-f]{32}$|^[0-9a-f]{64}$/i.test(parts[2]!)) {
      throw new CcmError("CONFIG_INVALID", `htdigest line ${i + 1}: expected user:realm:HA1`);
    }
    if (parts[1] === realm) users.set(parts[0]!, parts[2]!.toLowerCase());
  });
  return users;
}

/** Parses and checks an ACL document: a JSON array of {method, ch_type?, acl}. */
export function parseAcl(text: string): AclEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CcmError("CONFIG_INVALID", `ACL is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(value))
    throw new CcmError("CONFIG_INVALID", "ACL must be a JSON array of {method, ch_type, acl}");
  return value.map((v: unknown, i) => {
    const e = v as Partial<Record<keyof AclEntry, unknown>> | null;
    if (typeof e !== "object" || e === null || typeof e.method !== "string" || typeof e.acl !== "string") {
      throw new CcmError("CONFIG_INVALID", `ACL entry ${i}: needs string "method" and "acl"`);
    }
    if (e.ch_type !== undefined && typeof e.ch_type !== "string") {
      throw new CcmError("CONFIG_INVALID", `ACL entry ${i}: "ch_type" must be a string`);
    }
    return e.ch_type === undefined
      ? { method: e.method, acl: e.acl }
      : { method: e.method, ch_type: e.ch_type, acl: e.acl };
  });
}

/** Whether `user` passes an acl string such as `+alice,-bob,*` (first match decides; none: deny). */
export function aclAllows(acl: string, user: string): boolean {
  for (const raw of acl.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const sign = entry[0] === "-" ? "-" : "+";
    const pattern = entry[0] === "+" || entry[0] === "-" ? entry.slice(1) : entry;
    if (globMatch(pattern, user)) return sign === "+";
  }
  return false;
}

/** Hex digest with the given algorithm. */
export function digestHex(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === "MD5" ? "md5" : "sha256")
    .update(text)
    .digest("hex");
}

/** The in-frame `auth` response a client computes (mos `MkDigestResp`). */
export function frameDigestResponse(
  ha1: string,
  nonce: string,
  cnonce: string,
  algorithm: DigestAlgorithm = "MD5",
): string {
  const ha2 = digestHex(algorithm, "dummy_method:dummy_uri");
  return digestHex(algorithm, `${ha1}:${nonce}:1:${cnonce}:auth:${ha2}`);
}

/** HTTP Digest fields from an `Authorization: Digest …` header. */
export function parseDigestHeader(header: string): Record<string, string> | null {
  const m = /^\s*Digest\s+(.*)$/is.exec(header);
  if (m === null) return null;
  const out: Record<string, string> = {};
  const re = /([a-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/gi;
  for (let r = re.exec(m[1]!); r !== null; r = re.exec(m[1]!)) {
    out[r[1]!.toLowerCase()] = r[2] !== undefined ? r[2].replace(/\\(.)/g, "$1") : r[3]!;
  }
  return out;
}

/** Checks requests against the users and the ACL; issues and tracks nonces; limits failed logins. */
export class RpcAuth {
  readonly realm: string;
  readonly algorithm: DigestAlgorithm;
  private readonly config: AuthConfig;
  private readonly clock: Clock;
  private readonly nonces: NonceBook;
  private readonly failures = new Map<string, { count: number; until: number }>();

  constructor(config: AuthConfig) {
    this.config = config;
    this.realm = config.realm;
    this.algorithm = config.algorithm ?? "MD5";
    this.clock = config.clock ?? systemClock;
    this.nonces = new NonceBook({ ttlMs: config.nonceTtlMs ?? 300_000, clock: this.clock });
  }

  /** Whether anything is configured at all; without users and ACL every call is allowed. */
  get enabled(): boolean {
    return this.config.users !== null || this.config.acl !== null;
  }

  /** Decides one request: allowed (with the user, if any), or the error to answer with. */
  check(frame: RequestFrame, subject: AuthSubject): AuthResult {
    if (!this.enabled || (this.config.trusted ?? []).includes(subject.channel)) return { ok: true };
    const acl = this.aclFor(frame.method, subject.channel);
    if (acl === "*" || acl === "+*") return { ok: true };
    if (acl === "-*" || acl === "deny") return { ok: false, error: { code: 403, message: "unauthorized" } };
    if (acl === "allow-all") return { ok: true };
    const login = this.login(frame, subject);
    if (!login.ok) return login;
    if (acl === "any-user" || aclAllows(acl, login.user ?? "")) return login;
    return { ok: false, error: { code: 403, message: "unauthorized" } };
  }

  /** A fresh nonce: an integer (mos parses nonces as JSON numbers), single-use, expiring. */
  issueNonce(): string {
    return this.nonces.issue();
  }

  /** The 401 answer for frame channels: a challenge serialised into the message (§6.2). */
  challenge(): RpcErrorObject {
    const message = JSON.stringify({
      auth_type: "digest",
      nonce: Number(this.issueNonce()),
      nc: 1,
      realm: this.realm,
      algorithm: this.algorithm,
    });
    return { code: 401, message };
  }

  /** The `WWW-Authenticate` value for the HTTP channel. */
  httpChallenge(stale = false): string {
    const s = stale ? ", stale=true" : "";
    return `Digest qop="auth", realm="${this.realm}", nonce="${this.issueNonce()}", algorithm=${this.algorithm}${s}`;
  }

  /**
   * Verifies an HTTP `Authorization: Digest` header for `method` `uri`. Returns the user, "stale"
   * when only the nonce was out of date, or an error object.
   */
  verifyHttp(
    header: string,
    method: string,
    uri: string,
    source: string,
  ): { user: string } | "stale" | RpcErrorObject {
    const locked = this.lockedOut(source);
    if (locked !== undefined) return locked;
    const f = parseDigestHeader(header);
    const users = this.config.users;
    if (f === null || users === null) return this.fail(source, 400, "bad request");
    const { username, realm, nonce, uri: dUri, response, qop, nc, cnonce } = f;
    if (username === undefined || nonce === undefined || response === undefined || realm !== this.realm) {
      return this.fail(source, 400, "bad request");
    }
    if ((f.algorithm ?? "MD5").toUpperCase() !== this.algorithm) return this.fail(source, 400, "bad request");
    if (dUri !== undefined && dUri !== uri) return this.fail(source, 400, "bad request");
    const ncValue = nc === undefined ? 1 : parseInt(nc, 16);
    if (!this.nonces.usable(nonce, ncValue)) return "stale";
    const ha1 = users.get(username);
    const ha2 = digestHex(this.algorithm, `${method}:${dUri ?? uri}`);
    const want =
      ha1 === undefined
        ? ""
        : qop === undefined
          ? digestHex(this.algorithm, `${ha1}:${nonce}:${ha2}`)
          : digestHex(this.algorithm, `${ha1}:${nonce}:${nc ?? ""}:${cnonce ?? ""}:${qop}:${ha2}`);
    if (!sameHex(want, response)) return this.fail(source, 401, "unauthorized");
    this.nonces.spend(nonce, ncValue);
    this.failures.delete(source);
    return { user: username };
  }

  private login(frame: RequestFrame, subject: AuthSubject): AuthResult {
    if (subject.user !== undefined) return { ok: true, user: subject.user };
    const selfNamed = (this.config.selfNamed ?? ["MQTT"]).includes(subject.channel);
    // Where the source is real, a locked-out one gets no challenge either.
    const lockedSource = selfNamed ? undefined : this.lockedOut(subject.source);
    if (lockedSource !== undefined) return { ok: false, error: lockedSource };
    const auth = frame.auth as Record<string, unknown> | undefined;
    const users = this.config.users;
    if (auth === undefined || typeof auth !== "object" || users === null)
      return { ok: false, error: this.challenge() };
    const text = (v: unknown): string => (typeof v === "string" || typeof v === "number" ? String(v) : "");
    const [realm, username, nonce, cnonce, response] = [
      "realm",
      "username",
      "nonce",
      "cnonce",
      "response",
    ].map((k) => text(auth[k]));
    const key = selfNamed ? `${subject.channel} user ${username!}` : subject.source;
    const locked = selfNamed ? this.lockedOut(key) : undefined;
    if (locked !== undefined) return { ok: false, error: locked };
    const algorithm = text(auth.algorithm) === "" ? "MD5" : text(auth.algorithm);
    if (
      [realm, username, nonce, cnonce, response].includes("") ||
      realm !== this.realm ||
      algorithm !== this.algorithm
    ) {
      return { ok: false, error: this.fail(key, 400, "bad request") };
    }
    if (!this.nonces.usable(nonce!, 1)) return { ok: false, error: this.challenge() };
    const ha1 = users.get(username!);
    const want = ha1 === undefined ? "" : frameDigestResponse(ha1, nonce!, cnonce!, this.algorithm);
    if (!sameHex(want, response!)) {
      const failed = this.fail(key, 401, "unauthorized");
      return { ok: false, error: failed.code === 429 ? failed : this.challenge() };
    }
    this.nonces.spend(nonce!, 1);
    this.failures.delete(key);
    return { ok: true, user: username! };
  }

  /** The acl string for a method on a channel; special values for the no-ACL cases. */
  private aclFor(method: string, channel: string): string {
    const acl = this.config.acl;
    if (acl === null) {
      const network = this.config.network ?? ["HTTP", "WS_in", "MQTT"];
      return network.includes(channel) ? "any-user" : "allow-all";
    }
    const hit = acl.find(
      (e) => (e.ch_type === undefined || e.ch_type === channel) && globMatch(e.method, method),
    );
    return hit?.acl ?? "deny";
  }

  private fail(source: string, code: number, message: string): RpcErrorObject {
    const f = this.failures.get(source) ?? { count: 0, until: 0 };
    f.count++;
    if (f.count >= (this.config.maxFailures ?? 5))
      f.until = this.clock.now() + (this.config.lockoutMs ?? 60_000);
    this.failures.set(source, f);
    if (this.failures.size > 10_000) this.forgetOneFailure();
    return { code, message };
  }

  /** Makes room in the failure table, sparing lockouts still running (a flood must not lift them). */
  private forgetOneFailure(): void {
    const now = this.clock.now();
    for (const [key, f] of this.failures) {
      if (f.until <= now) {
        this.failures.delete(key);
        return;
      }
    }
    this.failures.delete(this.failures.keys().next().value!);
  }

  private lockedOut(source: string): RpcErrorObject | undefined {
    const f = this.failures.get(source);
    if (f === undefined || f.until === 0) return undefined;
    if (f.until > this.clock.now()) return { code: 429, message: "too many failed logins; try again later" };
    this.failures.delete(source);
    return undefined;
  }
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a.toLowerCase());
  const y = Buffer.from(b.toLowerCase());
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
