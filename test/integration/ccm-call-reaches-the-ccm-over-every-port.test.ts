import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { runCli } from "../helpers/cli.js";
import { startBroker } from "../helpers/brokers.js";
import { until } from "../helpers/daemon.js";
import { htdigestFile, remoteRig, tempDir } from "../helpers/remote.js";

test("ccm call works over ws://, http:// and mqtt:// ports, with --rpc-creds user:pass or @file", async (t) => {
  const users = await htdigestFile(t, "RPC", { joe: "secret" });
  const broker = await startBroker(t, "embedded");
  const { url, daemon } = await remoteRig(t, {
    rpc: { auth_file: users },
    mqtt: { enable: true, server: broker.server },
  });
  await until(() => daemon.mqtt?.connected === true, "MQTT up");
  const credsFile = join(await tempDir(t), "creds");
  await writeFile(credsFile, "joe:secret\n");
  const ports = [`${url.replace("http", "ws")}/rpc`, url, `mqtt://${broker.server}/ccm_test`];
  for (const port of ports) {
    const sum = await runCli(["--port", port, "--rpc-creds", "joe:secret", "call", "Sum", "[2,3]"]);
    assert.equal(sum.stdout, "5\n", `${port}: ${sum.stderr}`);
    assert.equal(sum.code, 0);
    const list = await runCli(["--port", port, "--rpc-creds", `@${credsFile}`, "--json", "call", "RPC.List"]);
    const names = JSON.parse(list.stdout) as string[];
    assert.ok(
      names.includes("Sum") && names.includes("Sys.GetInfo"),
      `${port}: ${list.stdout}${list.stderr}`,
    );
    const refused = await runCli(["--port", port, "call", "Sys.GetInfo"]);
    assert.equal(refused.code, 1, `${port}: ${refused.stdout}`);
    assert.match(refused.stderr, /401: unauthorized.*--rpc-creds/);
  }
});

test("ccm call says which port it cannot reach and exits 3", async () => {
  const r = await runCli(["--port", "ws://127.0.0.1:1/rpc", "--timeout", "2s", "call", "RPC.Ping"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /cannot connect to ws:\/\/127\.0\.0\.1:1\/rpc/);
  const bad = await runCli(["--port", "gopher://x", "call", "RPC.Ping"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown --port scheme/);
});
