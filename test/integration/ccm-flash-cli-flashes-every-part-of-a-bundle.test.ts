/**
 * `ccm flash fw.zip` with a bundle of several STM32 parts, as `ccm create-fw-bundle` makes from an
 * Intel HEX with a gap: the CLI on one end of a socat pty pair, the emulated STM32 (its flash read
 * back here) behind a simulated host on the other, RST/BOOT0 through `sim` lines.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { readBundle } from "../../src/fw/bundle.js";
import { makeFirmwareImage } from "../../src/sim/stm32/image.js";
import { runCli } from "../helpers/cli.js";
import { intelHex } from "../helpers/intel-hex.js";
import { stm32Bundle } from "../helpers/ota.js";
import { tempDir } from "../helpers/remote.js";
import { startEmulator, watchFlash } from "../helpers/stm32.js";

const OLD = makeFirmwareImage({ size: 16 * 1024, version: "1.0", seed: 11 });

/** An emulated STM32F10xxx high density (2 KiB pages) running OLD, and a temp dir. */
async function rig(t: Parameters<typeof startEmulator>[0]) {
  const emu = await startEmulator(t, { chip: 0x414, initialImage: OLD });
  return { emu, seen: watchFlash(emu), dir: await tempDir(t) };
}

test("a .hex whose table lies 1 KiB past the application becomes two bundle parts, and ccm flash puts both on the host in one session, each page erased once", async (t) => {
  const { emu, seen, dir } = await rig(t);
  // The application ends at 0x080011f8 in page 2 (0x08001000–0x080017ff); the table starts in the
  // same page at 0x08001600 and ends in page 3.
  const app = makeFirmwareImage({ size: 4600, version: "2.0", seed: 20 });
  const table = makeFirmwareImage({ size: 1000, seed: 21 });
  await writeFile(
    join(dir, "app.hex"),
    intelHex([
      { address: 0x0800_0000, data: app },
      { address: 0x0800_1600, data: table },
    ]),
  );
  const zip = join(dir, "fw.zip");
  const made = await runCli(
    [
      "create-fw-bundle",
      "-o",
      zip,
      "--name",
      "fw",
      "--platform",
      "ccm_host",
      "--fw-version",
      "2.0",
      "--src-dir",
      dir,
      "host_fw:type=STM32,src=app.hex",
    ],
    30_000,
  );
  assert.equal(made.code, 0, made.stderr);
  assert.deepEqual(
    readBundle(await readFile(zip)).parts.map((p) => [p.name, p.addr, p.size]),
    [
      ["host_fw", 0x0800_0000, 4600],
      ["host_fw_1", 0x0800_1600, 1000],
    ],
  );

  const r = await runCli(["flash", "--port", emu.port, "--lines", emu.linesSpec, zip], 60_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^flashed 5600 bytes of .*fw\.zip \(parts host_fw, host_fw_1\) at 0x8000000, 0x8001600 to STM32F10xxx High-density in \d+\.\d s, verified; the host answers, fw_version "2\.0"\n$/,
  );
  assert.match(r.stderr, /^erase\s+100% 4\/4/m);
  assert.deepEqual(seen.erased, [0, 1, 2, 3], "pages 0–3, each once");
  assert.equal(seen.bootloaderVisits(), 1, "one bootloader session");
  const flash = emu.mcu.memory;
  assert.deepEqual(flash.read(0x0800_0000, app.length), app);
  assert.deepEqual(flash.read(0x0800_1600, table.length), table);
  // Between the parts and after the table to the end of page 3: erased, OLD's bytes gone.
  assert.deepEqual(flash.read(0x0800_11f8, 0x408), Buffer.alloc(0x408, 0xff));
  assert.deepEqual(flash.read(0x0800_19e8, 0x618), Buffer.alloc(0x618, 0xff));
  // Page 4 was not erased.
  assert.deepEqual(flash.read(0x0800_2000, 0x800), OLD.subarray(0x2000, 0x2800));
});

test("ccm flash refuses a bundle whose parts overlap before the host is touched", async (t) => {
  const { emu, seen, dir } = await rig(t);
  const zip = await stm32Bundle(dir, "fw.zip", [
    { name: "host_fw", data: makeFirmwareImage({ size: 4096, version: "2.0" }), addr: 0x0800_0000 },
    { name: "table", data: makeFirmwareImage({ size: 512, seed: 5 }), addr: 0x0800_0f00 },
  ]);
  const r = await runCli(["flash", "--port", emu.port, "--lines", emu.linesSpec, zip], 30_000);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /ccm: parts host_fw and table overlap: host_fw \(4096 bytes at 0x08000000\) ends at 0x08001000, past the start of table at 0x08000f00/,
  );
  assert.deepEqual([seen.erased, seen.bootloaderVisits()], [[], 0]);
  assert.deepEqual(emu.mcu.memory.read(0x0800_0000, OLD.length), OLD);
});

test("ccm flash refuses a bundle for another platform unless --force, and takes no --addr with a bundle", async (t) => {
  const { emu, seen, dir } = await rig(t);
  const zip = await stm32Bundle(
    dir,
    "esp.zip",
    [
      {
        name: "host_fw",
        data: makeFirmwareImage({ size: 3000, version: "3.0", seed: 30 }),
        addr: 0x0800_0000,
      },
    ],
    { platform: "esp32" },
  );
  const flash = (...args: string[]) =>
    runCli(["flash", "--port", emu.port, "--lines", emu.linesSpec, ...args, zip], 30_000);

  const refused = await flash();
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(
    refused.stderr,
    /esp\.zip: the bundle is for platform "esp32"; ccm flash takes ccm_host or stm32 bundles \(--force flashes it anyway\)/,
  );
  const addr = await flash("--force", "--addr", "0x8000800");
  assert.equal(addr.code, 2, addr.stderr);
  assert.match(addr.stderr, /--addr is for a raw image: the parts of .*esp\.zip carry their addr/);
  assert.deepEqual([seen.erased, seen.bootloaderVisits()], [[], 0]);

  const forced = await flash("--force");
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(
    forced.stdout,
    /flashed 3000 bytes of .*esp\.zip \(part host_fw\) at 0x8000000 .*fw_version "3\.0"/,
  );
});
