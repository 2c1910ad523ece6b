import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isCcmError } from "../errors.js";
import { loadConfig, parseAssignment } from "./load.js";

test("defaults fill every key when nothing is given", () => {
  const c = loadConfig();
  assert.equal(c.host.baud, 115200);
  assert.equal(c.host.max_frame, 8192);
  assert.equal(c.host.timeout_ms, 10000);
  assert.equal(c.debug.level, 2);
});

test("--set values are typed by the schema", () => {
  assert.deepEqual(parseAssignment("host.baud=9600"), { host: { baud: 9600 } });
  assert.deepEqual(parseAssignment("host.jsonrpc_member=false"), { host: { jsonrpc_member: false } });
  assert.deepEqual(parseAssignment("host.port=tcp://a:1"), { host: { port: "tcp://a:1" } });
});

test("a config file is applied over defaults, flags over the file, --set over everything", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ccm-cfg-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "c.json");
  await writeFile(file, JSON.stringify({ host: { port: "/dev/ttyS1", baud: 57600 }, debug: { level: 3 } }));
  const c = loadConfig({ file, overrides: { host: { port: "/dev/ttyUSB0" } }, set: ["debug.level=4"] });
  assert.equal(c.host.port, "/dev/ttyUSB0");
  assert.equal(c.host.baud, 57600);
  assert.equal(c.debug.level, 4);
});

test("bad config is refused with the path named", async (t) => {
  const bad = (fn: () => unknown, re: RegExp) => {
    assert.throws(fn, (e) => isCcmError(e, "CONFIG_INVALID") && re.test(e.message));
  };
  bad(() => parseAssignment("nope"), /expected key=value/);
  bad(() => parseAssignment("host.nope=1"), /unknown config key: host\.nope/);
  bad(() => parseAssignment("host.baud=x"), /host\.baud: "x" is not a number/);
  bad(() => parseAssignment("host.jsonrpc_member=yes"), /not true or false/);
  bad(() => parseAssignment("host=1"), /host is a section/);
  bad(() => loadConfig({ set: ["host.baud=10"] }), /host\.baud must be >= 50/);
  bad(() => loadConfig({ overrides: { host: { colour: "red" } } }), /unknown config key: host\.colour/);
  bad(() => loadConfig({ overrides: { debug: { level: "high" } } }), /debug\.level must be integer/);
  const dir = await mkdtemp(join(tmpdir(), "ccm-cfg-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "bad.json"), "{ not json");
  bad(() => loadConfig({ file: join(dir, "bad.json") }), /cannot read config file/);
  await writeFile(join(dir, "arr.json"), "[1]");
  bad(() => loadConfig({ file: join(dir, "arr.json") }), /must hold a JSON object/);
  bad(() => loadConfig({ file: join(dir, "missing.json") }), /cannot read config file/);
});
