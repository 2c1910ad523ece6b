import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import type { Clock } from "../util/clock.js";
import { RpcAuth, aclAllows, parseAcl, parseDigestHeader, parseHtdigest, type AuthConfig } from "./auth.js";
import type { RequestFrame, RpcErrorObject } from "./frame.js";
import { globMatch } from "./match.js";

const md5 = (s: string): string => createHash("md5").update(s).digest("hex");
const HA1 = md5("joe:RPC:secret");

function fakeClock(): Clock & { advance(ms: number): void } {
  let now = 1_000_000;
  return { now: () => now, setTimeout: () => 0, clearTimeout: () => undefined, advance: (ms) => (now += ms) };
}

function auth(over: Partial<AuthConfig> = {}): RpcAuth {
  return new RpcAuth({ realm: "RPC", users: new Map([["joe", HA1]]), acl: null, trusted: ["HOST"], ...over });
}

/** What mos does on a 401: parse the challenge, answer with the reference formula (§6.3). */
function answer(challenge: RpcErrorObject, pass = "secret", user = "joe"): Record<string, unknown> {
  const c = JSON.parse(challenge.message!) as { nonce: number; realm: string };
  const cnonce = 313273957;
  const ha1 = md5(`${user}:${c.realm}:${pass}`);
  const ha2 = md5("dummy_method:dummy_uri");
  const response = md5(`${ha1}:${c.nonce}:1:${cnonce}:auth:${ha2}`);
  return { realm: c.realm, username: user, nonce: c.nonce, cnonce, response };
}

const call = (auth?: unknown): RequestFrame => ({
  id: 1,
  method: "Config.Get",
  ...(auth === undefined ? {} : { auth }),
});
const ws = { channel: "WS_in", source: "10.0.0.9" };

describe("method and user patterns", () => {
  test("globs match as Mongoose OS matches them", () => {
    assert.ok(globMatch("FS.*", "fs.get"));
    assert.ok(globMatch("*", "Sys.GetInfo"));
    assert.ok(!globMatch("a/*", "a/b/c"));
    assert.ok(globMatch("a/**", "a/b/c"));
    assert.ok(globMatch("Sys.?et*", "Sys.GetInfo"));
    assert.ok(globMatch("Config.Get,Sys.*", "Sys.Reboot"));
    assert.ok(globMatch("Config.Get|Sys.*", "config.get"));
    assert.ok(!globMatch("Config.Get", "Config.GetX"));
  });

  test("an acl string is decided by its first matching entry, and nothing matching denies", () => {
    assert.ok(aclAllows("+user1,-user2", "user1"));
    assert.ok(!aclAllows("+user1,-user2", "user2"));
    assert.ok(!aclAllows("+user1", "user3"));
    assert.ok(aclAllows("-bob,*", "alice"));
    assert.ok(!aclAllows("-*", "alice"));
  });
});

describe("config files", () => {
  test("an htdigest file gives the users of the configured realm", () => {
    const users = parseHtdigest(`joe:RPC:${HA1}\n# comment\n\nann:Other:${md5("x")}\n`, "RPC");
    assert.deepEqual([...users], [["joe", HA1]]);
    assert.throws(() => parseHtdigest("joe:RPC\n", "RPC"), /htdigest line 1/);
  });

  test("an ACL is a JSON array of {method, ch_type, acl}; anything else is refused clearly", () => {
    assert.deepEqual(
      parseAcl('[{"method":"FS.*","acl":"+user1"},{"method":"*","ch_type":"UART","acl":"*"}]'),
      [
        { method: "FS.*", acl: "+user1" },
        { method: "*", ch_type: "UART", acl: "*" },
      ],
    );
    assert.throws(() => parseAcl("{"), /ACL is not JSON/);
    assert.throws(() => parseAcl("{}"), /must be a JSON array/);
    assert.throws(() => parseAcl('[{"method":"x"}]'), /entry 0: needs string "method" and "acl"/);
  });
});

describe("in-frame digest auth", () => {
  test("with nothing configured every call is allowed", () => {
    assert.deepEqual(auth({ users: null }).check(call(), ws), { ok: true });
  });

  test("an unauthenticated call gets a 401 challenge, and mos's answer to it is accepted", () => {
    const a = auth();
    const r = a.check(call(), ws);
    assert.equal(r.ok, false);
    const challenge = (r as { error: RpcErrorObject }).error;
    assert.equal(challenge.code, 401);
    const c = JSON.parse(challenge.message!) as Record<string, unknown>;
    assert.equal(c.auth_type, "digest");
    assert.equal(c.realm, "RPC");
    assert.equal(c.algorithm, "MD5");
    assert.equal(typeof c.nonce, "number");
    assert.deepEqual(a.check(call(answer(challenge)), ws), { ok: true, user: "joe" });
  });

  test("a replayed auth is refused with a fresh challenge", () => {
    const a = auth();
    const first = (a.check(call(), ws) as { error: RpcErrorObject }).error;
    const creds = answer(first);
    assert.equal(a.check(call(creds), ws).ok, true);
    const replay = a.check(call(creds), ws);
    assert.equal(replay.ok, false);
    assert.equal((replay as { error: RpcErrorObject }).error.code, 401);
  });

  test("a nonce we did not issue, or one that expired, is refused", () => {
    const clock = fakeClock();
    const a = auth({ clock, nonceTtlMs: 1000 });
    const made = { message: JSON.stringify({ nonce: 1611048949, realm: "RPC" }), code: 401 };
    assert.equal(a.check(call(answer(made)), ws).ok, false);
    const old = (a.check(call(), ws) as { error: RpcErrorObject }).error;
    clock.advance(1001);
    assert.equal(a.check(call(answer(old)), ws).ok, false);
  });

  test("a caller holding a nonce still logs in after a flood of 20,000 unauthenticated calls", () => {
    const a = auth();
    const held = (a.check(call(), ws) as { error: RpcErrorObject }).error;
    for (let i = 0; i < 20_000; i++) a.check(call(), { channel: "MQTT", source: `flood-${i}` });
    assert.deepEqual(a.check(call(answer(held)), ws), { ok: true, user: "joe" });
  });

  test("a wrong password is a 401, malformed credentials a 400", () => {
    const a = auth();
    const c = (a.check(call(), ws) as { error: RpcErrorObject }).error;
    assert.equal((a.check(call(answer(c, "wrong")), ws) as { error: RpcErrorObject }).error.code, 401);
    const creds = { ...answer((a.check(call(), ws) as { error: RpcErrorObject }).error), realm: "Other" };
    assert.equal((a.check(call(creds), ws) as { error: RpcErrorObject }).error.code, 400);
    assert.equal((a.check(call({ username: "joe" }), ws) as { error: RpcErrorObject }).error.code, 400);
  });

  test("failed logins are rate-limited per source", () => {
    const clock = fakeClock();
    const a = auth({ clock, maxFailures: 3, lockoutMs: 10_000 });
    for (let i = 0; i < 3; i++) {
      const c = (a.check(call(), ws) as { error: RpcErrorObject }).error;
      a.check(call(answer(c, "guess")), ws);
    }
    const c = (a.check(call(), ws) as { error: RpcErrorObject }).error;
    assert.equal(c.code, 429);
    const other = (a.check(call(), { channel: "WS_in", source: "10.0.0.10" }) as { error: RpcErrorObject })
      .error;
    assert.equal(other.code, 401);
    clock.advance(10_001);
    const again = (a.check(call(), ws) as { error: RpcErrorObject }).error;
    assert.equal(a.check(call(answer(again)), ws).ok, true);
  });

  test("over MQTT failed logins count against the user name tried, whatever src the caller gives", () => {
    const clock = fakeClock();
    const a = auth({
      clock,
      maxFailures: 3,
      lockoutMs: 10_000,
      users: new Map([
        ["joe", HA1],
        ["ann", md5("ann:RPC:pw")],
      ]),
    });
    const mqtt = (src: string) => ({ channel: "MQTT", source: src });
    const tryAs = (src: string, pass: string, user = "joe"): RpcErrorObject | undefined => {
      const c = (a.check(call(), mqtt(src)) as { error: RpcErrorObject }).error;
      const r = a.check(call(answer(c, pass, user)), mqtt(src));
      return r.ok ? undefined : r.error;
    };
    for (let i = 0; i < 3; i++) assert.equal(tryAs(`attacker-${i}`, "guess")?.code, 401);
    assert.equal(tryAs("attacker-new", "secret")?.code, 429, "a new src does not lift joe's lockout");
    assert.equal(tryAs("attacker-0", "pw", "ann"), undefined, "ann, another user, is not locked out");
    clock.advance(10_001);
    assert.equal(tryAs("attacker-0", "secret"), undefined);
  });

  test("with users but no ACL, network channels need a login and serial and the host do not", () => {
    const a = auth();
    assert.equal(a.check(call(), { channel: "HTTP", source: "x" }).ok, false);
    assert.equal(a.check(call(), { channel: "MQTT", source: "x" }).ok, false);
    assert.equal(a.check(call(), { channel: "UART", source: "x" }).ok, true);
    assert.equal(a.check(call(), { channel: "HOST", source: "x" }).ok, true);
  });

  test("the ACL decides per method and channel type, first match wins, no match denies", () => {
    const a = auth({
      acl: parseAcl(
        JSON.stringify([
          { method: "Sys.GetInfo", acl: "*" },
          { method: "Config.*", ch_type: "UART", acl: "*" },
          { method: "Config.*", acl: "+joe" },
          { method: "Sys.Reboot", acl: "-*" },
        ]),
      ),
    });
    assert.equal(a.check({ id: 1, method: "Sys.GetInfo" }, ws).ok, true);
    assert.equal(a.check({ id: 1, method: "Config.Set" }, { channel: "UART", source: "s" }).ok, true);
    const r = a.check({ id: 1, method: "Config.Set" }, ws);
    assert.equal((r as { error: RpcErrorObject }).error.code, 401);
    assert.equal(a.check({ id: 1, method: "Config.Set" }, { ...ws, user: "joe" }).ok, true);
    assert.equal(
      (a.check({ id: 1, method: "Config.Set" }, { ...ws, user: "ann" }) as { error: RpcErrorObject }).error
        .code,
      403,
    );
    assert.equal((a.check({ id: 1, method: "Sys.Reboot" }, ws) as { error: RpcErrorObject }).error.code, 403);
    assert.equal((a.check({ id: 1, method: "Sum" }, ws) as { error: RpcErrorObject }).error.code, 403);
  });
});

describe("HTTP digest", () => {
  test("a client's Authorization header is verified, and its nonce count must grow", () => {
    const a = auth();
    const www = parseDigestHeader(a.httpChallenge())!;
    assert.equal(www.realm, "RPC");
    const header = (nc: string): string => {
      const ha2 = md5("POST:/rpc/Sys.GetInfo");
      const response = md5(`${HA1}:${www.nonce}:${nc}:abc:auth:${ha2}`);
      return `Digest username="joe", realm="RPC", nonce="${www.nonce}", uri="/rpc/Sys.GetInfo", qop=auth, nc=${nc}, cnonce="abc", response="${response}", algorithm=MD5`;
    };
    assert.deepEqual(a.verifyHttp(header("00000001"), "POST", "/rpc/Sys.GetInfo", "s"), { user: "joe" });
    assert.equal(a.verifyHttp(header("00000001"), "POST", "/rpc/Sys.GetInfo", "s"), "stale");
    assert.deepEqual(a.verifyHttp(header("00000002"), "POST", "/rpc/Sys.GetInfo", "s"), { user: "joe" });
    const bad = a.verifyHttp(
      header("00000003").replace(/response="[0-9a-f]+"/, 'response="00"'),
      "POST",
      "/rpc/Sys.GetInfo",
      "s",
    );
    assert.deepEqual(bad, { code: 401, message: "unauthorized" });
    assert.deepEqual(a.verifyHttp("Basic am9lOnNlY3JldA==", "POST", "/rpc", "s"), {
      code: 400,
      message: "bad request",
    });
  });
});
