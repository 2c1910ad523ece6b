import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, spawnCli } from "../helpers/cli.js";
import { until } from "../helpers/daemon.js";

test("ccm demo starts the CCM and a simulated host, prints how to call it, and those calls work", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ccm-demo-test-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const demo = spawnCli(["demo", "--dir", dir, "--for", "60s"]);
  t.after(() => demo.kill("SIGKILL"));
  let out = "";
  demo.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  await until(() => out.includes("Ctrl-C") || out.includes("Stopping in"), "the demo's instructions", 20_000);
  assert.match(out, /CCM -> host: Sum \[2,3\] = 5/);
  const port = join(dir, "rpc");
  assert.ok(out.includes(`npx ccm --port ${port} call Sys.GetInfo`));

  const sum = await runCli(["--port", port, "call", "Sum", "[2,3]"]);
  assert.equal(sum.stdout, "5\n", sum.stderr);
  const info = await runCli(["--port", port, "--json", "call", "Sys.GetInfo"]);
  const parsed = JSON.parse(info.stdout) as { id: string; host: { state: string } };
  assert.equal(parsed.id, "ccm_demo");
  assert.equal(parsed.host.state, "ready");
  const url = /curl (http:\/\/127\.0\.0\.1:\d+)\/rpc\/Sys\.GetInfo/.exec(out)?.[1];
  assert.ok(url !== undefined, `the demo prints an HTTP URL:\n${out}`);
  const rest = await (await fetch(`${url}/rpc/Sum?a=20&b=22`)).json();
  assert.equal(rest, 42);
  const ws = await runCli(["--port", `${url.replace("http", "ws")}/rpc`, "call", "Sum", '{"a":1,"b":2}']);
  assert.equal(ws.stdout, "3\n", ws.stderr);
  await runCli(["--port", port, "call", "Shadow.Delta", '{"on":true}']);
  await until(() => out.includes('host got Shadow.Delta {"on":true}'), "the host to get the delta");
  // The shadow: the CCM is its authority; a desired state differing from the host's report reaches it.
  const update = await fetch(`${url}/rpc/Shadow.Update`, {
    method: "POST",
    body: JSON.stringify({ state: { desired: { on: false } } }),
  });
  assert.equal(update.status, 200);
  await until(() => out.includes('host got Shadow.Delta {"on":false}'), "the shadow's delta at the host");
  const mqttPort = /--port (mqtt:\/\/127\.0\.0\.1:\d+\/ccm_demo) call/.exec(out)?.[1];
  assert.ok(mqttPort !== undefined, out);
  const overMqtt = await runCli(["--port", mqttPort, "call", "Sum", "[1,1]"]);
  assert.equal(overMqtt.stdout, "2\n", overMqtt.stderr);

  const exited = new Promise<number | null>((resolve) => demo.once("exit", resolve));
  demo.kill("SIGINT");
  assert.equal(await exited, 0);
  assert.match(out, /ccm demo: stopped/);
});
