import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { gzipSync } from "node:zlib";
import { extractTarGz } from "./tar.js";

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "ccm-tar-"));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A one-member ustar archive, made by hand so that it can hold names GNU tar will not write. */
function tarOf(name: string, body: string): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100);
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(body.length.toString(8).padStart(11, "0") + "\0", 124);
  header.write("00000000000\0", 136);
  header.write("        ", 148);
  header.write("0", 156);
  header.write("ustar\0", 257);
  header.write("00", 263);
  const sum = header.reduce((a, b) => a + b, 0);
  header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  const data = Buffer.alloc(Math.ceil(body.length / 512) * 512);
  data.write(body);
  return Buffer.concat([header, data, Buffer.alloc(1024)]);
}

test("a tar.gz made by GNU tar extracts with long names, modes, and an npm pack package/ prefix stripped", (t) => {
  const dir = tempDir(t);
  const deep = join("package", "node_modules", "x".repeat(60), "y".repeat(60));
  mkdirSync(join(dir, "src", deep), { recursive: true });
  mkdirSync(join(dir, "src", "package", "dist", "cli"), { recursive: true });
  writeFileSync(join(dir, "src", deep, "index.js"), "export {};\n");
  writeFileSync(join(dir, "src", "package", "dist", "cli", "main.js"), "#!/usr/bin/env node\n", {
    mode: 0o755,
  });
  execFileSync("tar", ["czf", join(dir, "p.tgz"), "-C", join(dir, "src"), "package"]);
  const out = join(dir, "out");
  const { files } = extractTarGz(readFileSync(join(dir, "p.tgz")), out);
  assert.equal(files, 2);
  assert.equal(readFileSync(join(out, deep.slice("package/".length), "index.js"), "utf8"), "export {};\n");
  assert.equal(statSync(join(out, "dist", "cli", "main.js")).mode & 0o777, 0o755);
});

test("tar members with absolute names or .. are refused, so nothing lands outside the slot", (t) => {
  const dir = tempDir(t);
  for (const name of ["../escaped.js", "dist/../../escaped.js", "/tmp/escaped.js"]) {
    assert.throws(() => extractTarGz(gzipSync(tarOf(name, "x")), join(dir, "out")), /refused/);
  }
  assert.equal(existsSync(join(dir, "escaped.js")), false);
  assert.throws(() => extractTarGz(Buffer.from("not gzip"), join(dir, "out")), /not a gzip'd tar/);
  const corrupt = tarOf("ok.js", "x");
  corrupt[0] = 0x41;
  assert.throws(() => extractTarGz(gzipSync(corrupt), join(dir, "out")), /header checksum mismatch/);
});
