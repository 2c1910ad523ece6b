/**
 * One contract every remote RPC channel honours (MQTT.js abstract-suite style): the same calls,
 * notifications, errors, forwarding to the host, concurrency, host timeouts and auth, run against
 * serial, WebSocket, HTTP and MQTT by the `*.test.ts` files beside this one.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { connectRpc } from "../../src/channels/client/connect.js";
import type { RpcClient } from "../../src/channels/client/rpc-client.js";
import type { Daemon } from "../../src/daemon/daemon.js";
import { isCcmError } from "../../src/errors.js";
import { deaf } from "../../src/sim/behaviors.js";
import type { HostSimulator } from "../../src/sim/host-simulator.js";
import { startDaemon, startSim, until } from "../helpers/daemon.js";
import { ptyPair } from "../helpers/socat.js";

/** What a channel's rig adds to a daemon: its config, and the `--port` a caller uses. */
export interface ChannelUnderTest {
  /** Config overrides enabling the channel (merged with the auth ones). */
  config(t: TestContext): Promise<Record<string, unknown>>;
  /** The `--port` value reaching the daemon's channel. */
  port(daemon: Daemon): string;
  /** Network channels refuse unauthenticated calls when users are configured; serial does not. */
  network: boolean;
  /** One caller at a time (a serial port): opening a second connection closes the first. */
  exclusive?: boolean;
  /** Resolves when the channel can take calls (an MQTT subscription is in place). */
  ready?(daemon: Daemon): Promise<void>;
}

export interface Rig {
  daemon: Daemon;
  sim: HostSimulator;
  connect(creds?: { user: string; pass: string }): Promise<RpcClient>;
}

const md5 = (s: string): string => createHash("md5").update(s).digest("hex");

/** A daemon with a simulated host and the channel under test; `auth` adds an htdigest user joe/secret. */
export async function rig(
  t: TestContext,
  ch: ChannelUnderTest,
  o: { auth?: boolean; host?: Record<string, unknown> } = {},
): Promise<Rig> {
  const hostPty = await ptyPair(t);
  const sim = await startSim(t, { port: hostPty.b });
  const more = await ch.config(t);
  if (o.auth === true) {
    const dir = await mkdtemp(join(tmpdir(), "ccm-auth-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, "rpc_auth.txt");
    await writeFile(file, `joe:RPC:${md5("joe:RPC:secret")}\n`);
    const rpc = (more.rpc ?? {}) as Record<string, unknown>;
    more.rpc = { ...rpc, auth_file: file };
  }
  const daemon = await startDaemon(t, hostPty.a, o.host ?? {}, more);
  await until(() => daemon.host.state === "ready", "host ready");
  await ch.ready?.(daemon);
  const clients: RpcClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.close();
  });
  return {
    daemon,
    sim,
    async connect(creds) {
      if (ch.exclusive === true) await clients.pop()?.close();
      const c = await connectRpc(ch.port(daemon), {
        timeoutMs: 5000,
        baudRate: 115200,
        ...(creds === undefined ? {} : { creds }),
      });
      clients.push(c);
      return c;
    },
  };
}

/** Registers the contract's tests for one channel. */
export function channelContract(name: string, ch: ChannelUnderTest): void {
  describe(`${name} channel contract`, () => {
    test("a method the CCM serves is called and answered", async (t) => {
      const r = await rig(t, ch);
      const c = await r.connect();
      const info = (await c.call("Sys.GetInfo")) as { id: string; host: { state: string } };
      assert.equal(info.id, "ccm_test");
      assert.equal(info.host.state, "ready");
    });

    test("a method only the host exports is forwarded to it", async (t) => {
      const r = await rig(t, ch);
      const c = await r.connect();
      assert.equal(await c.call("Sum", [2, 3]), 5);
      assert.equal(await c.call("Sum", { a: 40, b: 2 }), 42);
      const list = (await c.call("RPC.List")) as string[];
      assert.ok(list.includes("Sum") && list.includes("Sys.GetInfo"));
    });

    test("errors keep their codes: the host's -32602, nobody's -32601", async (t) => {
      const r = await rig(t, ch);
      const c = await r.connect();
      await assert.rejects(
        c.call("Sum", [1, "x"]),
        (e) => isCcmError(e, "RPC_REMOTE") && e.rpcCode === -32602,
      );
      await assert.rejects(
        c.call("Nobody.Serves"),
        (e) => isCcmError(e, "RPC_REMOTE") && e.rpcCode === -32601,
      );
      await assert.rejects(
        c.call("RPC.Describe", { name: 5 }),
        (e) => isCcmError(e, "RPC_REMOTE") && e.rpcCode === -32602,
      );
    });

    test("a notification reaches the host and gets no answer", async (t) => {
      const r = await rig(t, ch);
      const c = await r.connect();
      await c.notify("Shadow.Delta", { on: true });
      // Notifications the CCM serves, or cannot: not even an error comes back.
      await c.notify("RPC.Ping");
      await c.notify("Nobody.Serves");
      await c.notify("RPC.Describe", { name: 5 });
      await until(() => r.sim.state.on, "the host's LED on");
      // Answers come in order on each channel: one to a notification would be here before this one.
      assert.ok(await c.call("RPC.Ping"));
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(c.unsolicited, 0, "frames that answered no call");
    });

    test("concurrent callers, on this channel and on the host's own link, each get their own answers", async (t) => {
      const r = await rig(t, ch);
      const c1 = await r.connect();
      const c2 = ch.exclusive === true ? c1 : await r.connect();
      const a = Array.from({ length: 8 }, (_, i) => c1.call("Sum", [i, 1000]));
      const b = Array.from({ length: 8 }, (_, i) => c2.call("Sum", [i, 2000]));
      const h = Array.from({ length: 4 }, () => r.sim.call("RPC.Ping", undefined, 5000));
      assert.deepEqual(
        await Promise.all(a),
        Array.from({ length: 8 }, (_, i) => i + 1000),
      );
      assert.deepEqual(
        await Promise.all(b),
        Array.from({ length: 8 }, (_, i) => i + 2000),
      );
      assert.equal((await Promise.all(h)).length, 4);
    });

    test("a host that never answers gives the caller a timeout error, not a hang", async (t) => {
      const r = await rig(t, ch, { host: { timeout_ms: 300 } });
      r.sim.use(deaf((text) => text.includes('"Sum"')));
      const c = await r.connect();
      await assert.rejects(c.call("Sum", [1, 2]), (e) => isCcmError(e, "RPC_REMOTE") && e.rpcCode === -32001);
      assert.equal(await c.call("RPC.Ping").then(() => "alive"), "alive");
    });

    test("with RPC users configured, calls need valid credentials on network channels", async (t) => {
      const r = await rig(t, ch, { auth: true });
      const anonymous = await r.connect();
      if (ch.network) {
        await assert.rejects(
          anonymous.call("Sys.GetInfo"),
          (e) => isCcmError(e, "RPC_REMOTE") && e.rpcCode === 401,
        );
        await assert.rejects(
          anonymous.call("Sum", [1, 2]),
          (e) => isCcmError(e, "RPC_REMOTE") && e.rpcCode === 401,
        );
        const wrong = await r.connect({ user: "joe", pass: "guess" });
        await assert.rejects(
          wrong.call("Sys.GetInfo"),
          (e) => isCcmError(e, "RPC_REMOTE") && e.rpcCode === 401,
        );
      } else {
        assert.equal(await anonymous.call("Sum", [1, 2]), 3);
      }
      const joe = await r.connect({ user: "joe", pass: "secret" });
      assert.equal(await joe.call("Sum", [1, 2]), 3);
      assert.equal(((await joe.call("Sys.GetInfo")) as { id: string }).id, "ccm_test");
    });
  });
}
