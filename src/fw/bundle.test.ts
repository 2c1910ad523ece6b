import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, verify } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { zipSync } from "fflate";
import { isCcmError } from "../errors.js";
import { createBundle, readBundle, SIG_EXTRA_ID } from "./bundle.js";
import { parseIntelHex } from "./intel-hex.js";
import { parseGoInt, parsePartSpec } from "./part-spec.js";
import { readZip, writeZip } from "./zip.js";

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "ccm-bundle-"));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A firmware image file of `size` pseudo-random bytes. */
function image(dir: string, name: string, size: number, seed = 1): string {
  const data = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) data[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

/** An Intel HEX record. */
function record(type: number, offset: number, data: number[]): string {
  const bytes = [data.length, offset >> 8, offset & 0xff, type, ...data];
  const sum = (0x100 - (bytes.reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
  return (
    ":" +
    Buffer.from([...bytes, sum])
      .toString("hex")
      .toUpperCase()
  );
}

/** Every local header of a zip, walked from offset 0 as a streaming reader would. */
function localHeaders(
  zip: Buffer,
): { name: string; method: number; flags: number; crc: number; size: number; dataAt: number }[] {
  const out = [];
  let p = 0;
  while (zip.readUInt32LE(p) === 0x04034b50) {
    const nameLen = zip.readUInt16LE(p + 26);
    const extraLen = zip.readUInt16LE(p + 28);
    const size = zip.readUInt32LE(p + 18);
    out.push({
      name: zip.subarray(p + 30, p + 30 + nameLen).toString(),
      flags: zip.readUInt16LE(p + 6),
      method: zip.readUInt16LE(p + 8),
      crc: zip.readUInt32LE(p + 14),
      size,
      dataAt: p + 30 + nameLen + extraLen,
    });
    p += 30 + nameLen + extraLen + size;
  }
  return out;
}

function rejects(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => isCcmError(e) && e.code === code && message.test(e.message));
}

test("a bundle round-trips: the parts come back byte for byte with mos's manifest", (t) => {
  const dir = tempDir(t);
  const fw = image(dir, "FIRMWARE.BIN", 70_000);
  const boot = image(dir, "boot.bin", 1000, 7);
  const zip = createBundle({
    name: "fw",
    platform: "ccm_host",
    version: "1.2.3",
    buildId: "20250101-ci",
    parts: [
      { name: "host_fw", type: "STM32", src: fw, addr: 0x8000000 },
      { name: "boot", type: "STM32", src: boot, addr: 0x8100000, note: "extra attr kept" },
    ],
  });
  const b = readBundle(zip, { platform: "CCM_HOST" });
  assert.deepEqual(Object.keys(b.manifest), ["name", "platform", "version", "build_id", "parts"]);
  assert.deepEqual(Object.keys(b.manifest.parts), ["boot", "host_fw"], "part names sorted as Go's maps");
  assert.deepEqual(Object.keys(b.manifest.parts.host_fw!), [
    "type",
    "src",
    "addr",
    "size",
    "cs_sha1",
    "cs_sha256",
  ]);
  const host = b.parts.find((p) => p.name === "host_fw")!;
  assert.equal(host.addr, 134217728);
  assert.equal(host.src, "FIRMWARE.BIN");
  assert.equal(host.size, 70_000);
  assert.equal(host.cs_sha256, createHash("sha256").update(host.data).digest("hex"));
  assert.equal(b.parts.find((p) => p.name === "boot")!.note, "extra attr kept");
  assert.equal(b.signatures, 0);
  const manifestText = readZip(zip)[0]!.data.toString();
  assert.match(manifestText, /^\{\n "name": "fw",\n "platform": "ccm_host",/, "one-space indent as mos");
});

test("manifest.json is the first entry and every entry is stored, CRC and sizes in its local header", (t) => {
  const dir = tempDir(t);
  const zip = createBundle({
    name: "fw",
    platform: "ccm_host",
    parts: [
      { name: "a", type: "STM32", src: image(dir, "a.bin", 5000), addr: 0x8000000 },
      { name: "b", type: "STM32", src: image(dir, "b.bin", 3), addr: 0x8010000 },
    ],
  });
  const headers = localHeaders(zip);
  assert.deepEqual(
    headers.map((h) => h.name),
    ["manifest.json", "a.bin", "b.bin"],
  );
  for (const h of headers) {
    assert.equal(h.method, 0, `${h.name} stored`);
    assert.equal(h.flags & 0x8, 0, `${h.name} has no data descriptor`);
    assert.notEqual(h.crc, 0, `${h.name} carries its CRC-32`);
  }
  assert.equal(headers[1]!.size, 5000);
});

test("an Intel HEX part becomes binary at its load address; small gaps are 0xFF-filled, large ones split the part", (t) => {
  const dir = tempDir(t);
  const hex = [
    record(0x04, 0, [0x08, 0x00]),
    record(0x00, 0x0000, [1, 2, 3, 4]),
    record(0x00, 0x0008, [5, 6]), // 4-byte gap: filled
    record(0x00, 0x4000, [7, 8, 9]), // 16 KiB gap: a second part
    record(0x05, 0, [0x08, 0, 0, 0]),
    record(0x01, 0, []),
  ].join("\r\n");
  writeFileSync(join(dir, "app.hex"), hex + "\r\n");
  const b = readBundle(
    createBundle({
      name: "fw",
      platform: "ccm_host",
      parts: [{ name: "host_fw", type: "STM32", src: join(dir, "app.hex") }],
    }),
  );
  assert.deepEqual(
    b.parts.map((p) => [p.name, p.type, p.src, p.addr, [...p.data]]),
    [
      ["host_fw", "STM32", "app.0.bin", 0x8000000, [1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 5, 6]],
      ["host_fw_1", "STM32", "app.1.bin", 0x8004000, [7, 8, 9]],
    ],
  );
  const one = parseIntelHex([record(0, 0x100, [0xaa]), record(1, 0, [])].join("\n"));
  assert.deepEqual(one, [{ addr: 0x100, data: Buffer.from([0xaa]) }]);
  rejects(() => parseIntelHex(":0100000001FF\n:00000001FF\n"), "BUNDLE_INVALID", /line 1: checksum mismatch/);
  rejects(() => parseIntelHex(record(0, 0, [1])), "BUNDLE_INVALID", /no end-of-file record/);
});

test("a corrupted byte in a part is refused naming the entry; with its CRC fixed up, naming the part and its SHA-256", (t) => {
  const dir = tempDir(t);
  const zip = createBundle({
    name: "fw",
    platform: "ccm_host",
    parts: [{ name: "host_fw", type: "STM32", src: image(dir, "FIRMWARE.BIN", 4096), addr: 0x8000000 }],
  });
  const at = localHeaders(zip).find((h) => h.name === "FIRMWARE.BIN")!.dataAt + 100;
  const bad = Buffer.from(zip);
  bad[at] = bad[at]! ^ 0x01;
  rejects(() => readBundle(bad), "BUNDLE_INVALID", /zip entry FIRMWARE\.BIN: CRC-32 mismatch/);
  // Someone rebuilds the zip around a changed image but keeps the manifest: the SHA-256 catches it.
  const [manifest, part] = readZip(zip);
  const changed = Buffer.from(part!.data);
  changed[100] = changed[100]! ^ 0x01;
  const rebuilt = writeZip([manifest!, { name: part!.name, data: changed }]);
  rejects(
    () => readBundle(rebuilt),
    "BUNDLE_INVALID",
    /part host_fw \(FIRMWARE\.BIN\): SHA-256 mismatch: [0-9a-f]{64}, the manifest says [0-9a-f]{64}/,
  );
  const shorter = writeZip([manifest!, { name: part!.name, data: part!.data.subarray(1) }]);
  rejects(
    () => readBundle(shorter),
    "BUNDLE_INVALID",
    /part host_fw \(FIRMWARE\.BIN\): size 4095, the manifest says 4096/,
  );
  const missing = writeZip([manifest!]);
  rejects(() => readBundle(missing), "BUNDLE_INVALID", /part host_fw: FIRMWARE\.BIN is not in the bundle/);
  rejects(() => readBundle(zip.subarray(0, zip.length - 30)), "BUNDLE_INVALID", /not a zip file/);
});

test("a bundle for another platform is refused", (t) => {
  const dir = tempDir(t);
  const zip = createBundle({
    name: "fw",
    platform: "esp32",
    parts: [{ name: "app", type: "app", src: image(dir, "app.bin", 64) }],
  });
  rejects(() => readBundle(zip, { platform: "ccm_host" }), "BUNDLE_INVALID", /platform esp32, not ccm_host/);
});

test("manifest.json must come first, and odd or path-like entry names are refused (no zip slip)", () => {
  const manifest = Buffer.from(JSON.stringify({ platform: "ccm_host", parts: {} }));
  const notFirst = Buffer.from(zipSync({ "x.bin": new Uint8Array(1), "manifest.json": manifest }));
  rejects(() => readBundle(notFirst), "BUNDLE_INVALID", /manifest\.json must be the first entry/);
  for (const name of ["../evil.bin", "dir/x.bin", "/etc/passwd", "C:\\x", "a\u0000b", ".."]) {
    const zip = Buffer.from(zipSync({ "manifest.json": manifest, [name]: new Uint8Array(1) }, { level: 0 }));
    rejects(() => readBundle(zip), "BUNDLE_INVALID", /refused zip entry name/);
  }
  const srcOutside = Buffer.from(
    JSON.stringify({
      platform: "ccm_host",
      parts: { p: { type: "STM32", src: "../x", size: 1, cs_sha256: "" } },
    }),
  );
  rejects(
    () => readBundle(writeZip([{ name: "manifest.json", data: srcOutside }])),
    "BUNDLE_INVALID",
    /part p: \.\.\/x is not in the bundle/,
  );
});

test("signed bundles: ECDSA P-256 and Ed25519 verify with their public keys, as mos signs (SHA-256 of the manifest, DER)", (t) => {
  const dir = tempDir(t);
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ed = generateKeyPairSync("ed25519");
  const parts = [{ name: "host_fw", type: "STM32", src: image(dir, "FIRMWARE.BIN", 2048), addr: 0x8000000 }];
  const zip = createBundle({ name: "fw", platform: "ccm_host", parts, signingKey: ec.privateKey });
  const b = readBundle(zip, { trustedKeys: [ed.publicKey, ec.publicKey] });
  assert.equal(b.signatures, 1);
  assert.equal(b.trustedKey, 1);
  // The signature sits where mos keeps it: JSON {"sig0": base64 DER} in the manifest's extra field 0x293a.
  const [m] = readZip(zip);
  const sigs = JSON.parse(m!.extra.get(SIG_EXTRA_ID)!.toString()) as { sig0: string };
  assert.ok(verify("sha256", m!.data, ec.publicKey, Buffer.from(sigs.sig0, "base64")));
  const pem = ed.privateKey.export({ type: "pkcs8", format: "pem" });
  const both = createBundle({ name: "fw", platform: "ccm_host", parts, signingKey: [pem, ec.privateKey] });
  assert.equal(readBundle(both, { trustedKeys: [ed.publicKey] }).signatures, 2);
  assert.equal(readBundle(both).trustedKey, undefined, "no trusted keys: signatures are not required");
  const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
  rejects(
    () => createBundle({ name: "fw", platform: "ccm_host", parts, signingKey: rsa.privateKey }),
    "BAD_ARGUMENT",
    /ECDSA P-256 or Ed25519, not rsa/,
  );
});

test("with a trusted key, an unsigned, wrongly signed or tampered bundle is refused", (t) => {
  const dir = tempDir(t);
  const trusted = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const parts = [{ name: "host_fw", type: "STM32", src: image(dir, "FIRMWARE.BIN", 512), addr: 0x8000000 }];
  const trustedKeys = [trusted.publicKey];
  const unsigned = createBundle({ name: "fw", platform: "ccm_host", parts });
  rejects(() => readBundle(unsigned, { trustedKeys }), "BUNDLE_UNTRUSTED", /not signed/);
  const wrong = createBundle({ name: "fw", platform: "ccm_host", parts, signingKey: other.privateKey });
  rejects(
    () => readBundle(wrong, { trustedKeys }),
    "BUNDLE_UNTRUSTED",
    /none of the bundle's 1 signature\(s\) verifies/,
  );
  // Tampered: the manifest now points at another image (with matching checksums), the signature kept.
  const good = createBundle({ name: "fw", platform: "ccm_host", parts, signingKey: trusted.privateKey });
  const [m, p] = readZip(good);
  const evil = Buffer.from("evil firmware");
  const manifest = JSON.parse(m!.data.toString()) as { parts: { host_fw: Record<string, unknown> } };
  Object.assign(manifest.parts.host_fw, {
    size: evil.length,
    cs_sha1: createHash("sha1").update(evil).digest("hex"),
    cs_sha256: createHash("sha256").update(evil).digest("hex"),
  });
  const tampered = writeZip([
    { name: "manifest.json", data: Buffer.from(JSON.stringify(manifest, null, 1)), extra: m!.extra },
    { name: p!.name, data: evil },
  ]);
  assert.equal(readBundle(tampered).parts[0]!.data.toString(), "evil firmware", "checksums alone pass");
  rejects(() => readBundle(tampered, { trustedKeys }), "BUNDLE_UNTRUSTED", /manifest\.json was changed/);
  assert.equal(readBundle(good, { trustedKeys }).trustedKey, 0);
});

test("part specs parse as mos parses them", () => {
  assert.deepEqual(parsePartSpec("host_fw:type=STM32,src=FIRMWARE.BIN,addr=0x8000000"), {
    name: "host_fw",
    attrs: { type: "STM32", src: "FIRMWARE.BIN", addr: 134217728 },
  });
  assert.deepEqual(
    parsePartSpec("p:flag=true,off=false,n=010,s='010',e=,big=0x80000000,addr=0x90000000").attrs,
    {
      flag: true,
      off: false,
      n: 8,
      s: "010",
      e: "",
      big: "0x80000000",
      addr: 0x90000000,
    },
  );
  assert.deepEqual(
    [
      parseGoInt("0b101"),
      parseGoInt("0o17"),
      parseGoInt("-42"),
      parseGoInt("0"),
      parseGoInt("08"),
      parseGoInt("x"),
    ],
    [5, 15, -42, 0, undefined, undefined],
  );
  assert.throws(() => parsePartSpec("no-colon"), /expected name:key=value/);
  assert.throws(() => parsePartSpec("p:addr=somewhere"), /addr=somewhere: not an address/);
});
