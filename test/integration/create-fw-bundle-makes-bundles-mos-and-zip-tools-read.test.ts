import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import { runCli } from "../helpers/cli.js";

const exec = promisify(execFile);

async function workDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "ccm-fwb-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("ccm create-fw-bundle takes mos's part syntax, and Python's zipfile lists and tests the bundle", async (t) => {
  const dir = await workDir(t);
  const fw = Buffer.alloc(10_000, 0xa5);
  await writeFile(join(dir, "FIRMWARE.BIN"), fw);
  const out = join(dir, "fw.zip");
  const made = await runCli([
    "create-fw-bundle",
    "-o",
    out,
    "--name",
    "fw",
    "--platform",
    "ccm_host",
    "--fw-version",
    "1.0.1",
    "--src-dir",
    dir,
    "host_fw:type=STM32,src=FIRMWARE.BIN,addr=0x8000000",
  ]);
  assert.equal(made.code, 0, made.stderr);
  // An external oracle: CPython's zipfile checks every CRC (-t) and lists the entries in order.
  const tested = await exec("python3", ["-m", "zipfile", "-t", out]);
  assert.match(tested.stdout, /Done testing/);
  const listed = await exec("python3", [
    "-c",
    "import sys, zipfile, json; z = zipfile.ZipFile(sys.argv[1]); " +
      "print(json.dumps([[i.filename, i.compress_type, i.file_size] for i in z.infolist()])); " +
      "print(z.read('manifest.json').decode())",
    out,
  ]);
  const [entries, ...manifestLines] = listed.stdout.trim().split("\n");
  assert.deepEqual(JSON.parse(entries!), [
    ["manifest.json", 0, manifestLines.join("\n").length],
    ["FIRMWARE.BIN", 0, 10_000],
  ]);
  const manifest = JSON.parse(manifestLines.join("\n")) as Record<string, unknown>;
  assert.deepEqual(manifest, {
    name: "fw",
    platform: "ccm_host",
    version: "1.0.1",
    parts: {
      host_fw: {
        type: "STM32",
        src: "FIRMWARE.BIN",
        addr: 134217728,
        size: 10_000,
        cs_sha1: (await exec("sha1sum", [join(dir, "FIRMWARE.BIN")])).stdout.slice(0, 40),
        cs_sha256: (await exec("sha256sum", [join(dir, "FIRMWARE.BIN")])).stdout.slice(0, 64),
      },
    },
  });
  const info = await runCli(["fw-bundle-info", out]);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /fw for ccm_host version 1\.0\.1; unsigned/);
  assert.match(info.stdout, /host_fw: STM32, FIRMWARE\.BIN, 10000 bytes @ 0x08000000/);
  const json = await runCli(["--json", "fw-bundle-info", "--platform", "ccm_host", out]);
  assert.deepEqual(JSON.parse(json.stdout), manifest);
});

test("ccm create-fw-bundle --sign-key signs; fw-bundle-info --trusted-key accepts it and refuses unsigned or other keys' bundles", async (t) => {
  const dir = await workDir(t);
  await writeFile(join(dir, "app.bin"), Buffer.from("application image"));
  const mine = generateKeyPairSync("ed25519");
  const theirs = generateKeyPairSync("ec", { namedCurve: "P-256" });
  await writeFile(join(dir, "key.pem"), mine.privateKey.export({ type: "pkcs8", format: "pem" }));
  await writeFile(join(dir, "key.pub"), mine.publicKey.export({ type: "spki", format: "pem" }));
  await writeFile(join(dir, "other.pub"), theirs.publicKey.export({ type: "spki", format: "pem" }));
  const make = (out: string, ...extra: string[]) =>
    runCli([
      "create-fw-bundle",
      "-o",
      join(dir, out),
      "--name",
      "fw",
      "--platform",
      "ccm_host",
      ...extra,
      `host_fw:type=STM32,src=${join(dir, "app.bin")},addr=0x8000000`,
    ]);
  assert.equal((await make("signed.zip", "--sign-key", join(dir, "key.pem"))).code, 0);
  assert.equal((await make("unsigned.zip")).code, 0);
  const ok = await runCli(["fw-bundle-info", "--trusted-key", join(dir, "key.pub"), join(dir, "signed.zip")]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /signed, verified with .*key\.pub/);
  const unsigned = await runCli([
    "fw-bundle-info",
    "--trusted-key",
    join(dir, "key.pub"),
    join(dir, "unsigned.zip"),
  ]);
  assert.equal(unsigned.code, 1);
  assert.match(unsigned.stderr, /the bundle is not signed/);
  const other = await runCli([
    "fw-bundle-info",
    "--trusted-key",
    join(dir, "other.pub"),
    join(dir, "signed.zip"),
  ]);
  assert.equal(other.code, 1);
  assert.match(other.stderr, /none of the bundle's 1 signature\(s\) verifies with a trusted key/);
  // A corrupted copy fails before anything else is looked at.
  const bytes = await readFile(join(dir, "signed.zip"));
  const at = bytes.indexOf("application image");
  bytes[at] = bytes[at]! ^ 0xff;
  await writeFile(join(dir, "corrupt.zip"), bytes);
  const corrupt = await runCli(["fw-bundle-info", join(dir, "corrupt.zip")]);
  assert.equal(corrupt.code, 1);
  assert.match(corrupt.stderr, /zip entry app\.bin: CRC-32 mismatch/);
});

test("ccm create-fw-bundle refuses bad part specs and missing files as usage errors", async (t) => {
  const dir = await workDir(t);
  const base = ["create-fw-bundle", "-o", join(dir, "x.zip"), "--name", "fw", "--platform", "ccm_host"];
  const noColon = await runCli([...base, "FIRMWARE.BIN"]);
  assert.equal(noColon.code, 2);
  assert.match(noColon.stderr, /bad part "FIRMWARE\.BIN": expected name:key=value/);
  const noType = await runCli([...base, `p:src=${join(dir, "x.bin")}`]);
  assert.equal(noType.code, 2);
  assert.match(noType.stderr, /part p: type= is required/);
  const missing = await runCli([...base, `p:type=STM32,src=${join(dir, "nope.bin")}`]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /part p: cannot read .*nope\.bin/);
});
