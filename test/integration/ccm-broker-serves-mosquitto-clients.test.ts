import assert from "node:assert/strict";
import { test } from "node:test";
import { spawnCli } from "../helpers/cli.js";
import { until } from "../helpers/daemon.js";
import { mosquittoSub, run } from "../helpers/remote.js";
import { freePort } from "../helpers/socat.js";

test("ccm broker serves mosquitto_pub and mosquitto_sub until SIGTERM", async (t) => {
  const port = await freePort();
  const broker = spawnCli(["broker", "--listen", `127.0.0.1:${port}`]);
  t.after(() => broker.kill("SIGKILL"));
  let out = "";
  broker.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  await until(() => out.includes("ccm broker: MQTT on"), "the broker's banner", 60_000);
  assert.match(out, new RegExp(`ccm broker: MQTT on mqtt://127\\.0\\.0\\.1:${port}; Ctrl-C to stop`));
  const sub = await mosquittoSub(t, port, "desk/+/temp");
  for (const [topic, m] of [
    ["desk/1/temp", "21.5"],
    ["desk/1/humidity", "40"],
    ["desk/2/temp", "19.0"],
  ] as const) {
    const r = await run("mosquitto_pub", [
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "-t",
      topic,
      "-m",
      m,
      "-q",
      "1",
    ]);
    assert.equal(r.code, 0, r.stderr);
  }
  await until(() => sub.messages.filter((m) => m.startsWith("desk/")).length === 2, "both temperatures");
  assert.deepEqual(
    sub.messages.filter((m) => m.startsWith("desk/")),
    ["desk/1/temp 21.5", "desk/2/temp 19.0"],
  );
  const exited = new Promise<number | null>((r) => broker.once("exit", r));
  broker.kill("SIGTERM");
  assert.equal(await exited, 0);
  assert.match(out, /ccm broker: stopped/);
});

test("ccm broker on a port already taken says so and exits non-zero", async (t) => {
  const port = await freePort();
  const first = spawnCli(["broker", "--listen", `127.0.0.1:${port}`]);
  t.after(() => first.kill("SIGKILL"));
  let out = "";
  first.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  await until(() => out.includes("ccm broker: MQTT on"), "the first broker", 60_000);
  const second = spawnCli(["broker", "--listen", `127.0.0.1:${port}`]);
  t.after(() => second.kill("SIGKILL"));
  let err = "";
  second.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  let code: number | null | undefined;
  second.once("exit", (c) => (code = c));
  await until(() => code !== undefined, "the second broker to exit", 60_000);
  assert.notEqual(code, 0);
  assert.match(err, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
});
