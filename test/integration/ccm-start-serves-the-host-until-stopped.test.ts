import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, spawnCli } from "../helpers/cli.js";
import { startSim, until } from "../helpers/daemon.js";
import { ptyPair } from "../helpers/socat.js";

test("ccm start serves the host's calls, keeps its id in the data dir, and exits cleanly on SIGTERM", async (t) => {
  const pty = await ptyPair(t);
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-start-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const sim = await startSim(t, { port: pty.b });
  const daemon = spawnCli([
    "start",
    "--host-port",
    pty.a,
    "--data-dir",
    dataDir,
    "--http-listen",
    "127.0.0.1:0",
    "--set",
    "host.probe_ms=300",
  ]);
  let log = "";
  daemon.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  t.after(() => daemon.kill("SIGKILL"));

  await until(() => /host ready/.test(log), "host ready in the daemon's log", 15_000);
  const url = /RPC over HTTP and WebSocket on (http:\/\/127\.0\.0\.1:\d+)\/rpc/.exec(log)?.[1];
  assert.ok(url !== undefined, log);
  assert.equal(await (await fetch(`${url}/rpc/Sum?a=1&b=2`)).text(), "3\r\n");
  const info = (await sim.call("Sys.GetInfo", undefined, 2000)) as { id: string; host: { state: string } };
  assert.match(info.id, /^ccm_[0-9a-f]{6}$/);
  assert.equal(info.host.state, "ready");
  const stored = JSON.parse(await readFile(join(dataDir, "identity.json"), "utf8")) as { id: string };
  assert.equal(stored.id, info.id);

  const exited = new Promise<number | null>((resolve) => daemon.once("exit", resolve));
  daemon.kill("SIGTERM");
  assert.equal(await exited, 0);
});

test("ccm start refuses an unknown config key or a wrong type, naming it", async () => {
  const unknown = await runCli(["start", "--set", "host.colour=blue"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown config key: host\.colour/);
  const wrong = await runCli(["start", "--set", "host.baud=fast"]);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /host\.baud: "fast" is not a number/);
});

test("ccm start exits 3 naming the address when the HTTP port is taken", async (t) => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  t.after(() => busy.close());
  const port = (busy.address() as AddressInfo).port;
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-start-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const r = await runCli(["start", "--data-dir", dataDir, "--http-listen", `127.0.0.1:${port}`]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
});
