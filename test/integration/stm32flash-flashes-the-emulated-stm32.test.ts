/**
 * Debian's stm32flash 0.7 is the oracle for the bootloader emulator: it must write, verify and read
 * back images on it through a real pty, on parts with Erase and with Extended Erase.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { connectRpc } from "../../src/channels/client/connect.js";
import { makeFirmwareImage } from "../../src/sim/stm32/image.js";
import { startEmulator, stm32flash } from "../helpers/stm32.js";

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "ccm-stm32flash-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("stm32flash writes, verifies and reads back an image on an F1 that erases with Erase (0x43)", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  const dir = await tempDir(t);
  const image = makeFirmwareImage({ size: 70_001, version: "2.0.0", seed: 7 });
  await writeFile(join(dir, "fw.bin"), image);

  const write = await stm32flash(["-w", join(dir, "fw.bin"), "-v", emu.port]);
  assert.equal(write.code, 0, write.stderr + write.stdout.slice(-500));
  assert.match(write.stdout, /Device ID\s+: 0x0410/);
  assert.match(write.stdout, /Wrote and verified address 0x08011171 \(100\.00%\) Done/);
  assert.deepEqual(emu.mcu.memory.flash.subarray(0, image.length), image);
  // stm32flash erases only the pages the image covers: 69 pages of 1 KiB.
  assert.ok(emu.mcu.memory.flash.subarray(69 * 1024).every((b) => b === 0xff));

  const read = await stm32flash(["-S", `0x08000000:${image.length}`, "-r", join(dir, "back.bin"), emu.port]);
  assert.equal(read.code, 0, read.stderr);
  assert.deepEqual(await readFile(join(dir, "back.bin")), image);
});

test("stm32flash flashes an F4 with Extended Erase (0x44), erasing only the sectors the image covers", async (t) => {
  const emu = await startEmulator(t, { chip: 0x413, mode: "bootloader" });
  const dir = await tempDir(t);
  // Something already in sector 5 (0x08020000, 128 KiB) must survive a 40 KiB image (sectors 0–2).
  emu.mcu.memory.write(0x0802_0000, Buffer.from("keep me"));
  const image = makeFirmwareImage({ size: 40 * 1024, version: "4.1", seed: 3 });
  await writeFile(join(dir, "fw.bin"), image);

  const write = await stm32flash(["-w", join(dir, "fw.bin"), "-v", emu.port]);
  assert.equal(write.code, 0, write.stderr);
  assert.match(write.stdout, /Version\s+: 0x31/);
  assert.match(write.stdout, /Device ID\s+: 0x0413/);
  assert.deepEqual(emu.mcu.memory.flash.subarray(0, image.length), image);
  assert.equal(emu.mcu.memory.read(0x0802_0000, 7)?.toString(), "keep me");
});

test("stm32flash writes through the paced bootloader at 115200 baud in about the wire time", async (t) => {
  const emu = await startEmulator(t, { chip: 0x440, mode: "bootloader", pacing: true, baud: 115200 });
  const dir = await tempDir(t);
  const image = makeFirmwareImage({ size: 8 * 1024, version: "0.4", seed: 5 });
  await writeFile(join(dir, "fw.bin"), image);
  const t0 = performance.now();
  const write = await stm32flash(["-w", join(dir, "fw.bin"), "-v", emu.port]);
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(write.code, 0, write.stderr);
  assert.deepEqual(emu.mcu.memory.flash.subarray(0, image.length), image);
  // 32 blocks × (268 + 268 chars) × 11 bits / 115200 = 1.64 s on the wire, plus 8 page erases and programming.
  assert.ok(seconds > 1.6, `took ${seconds.toFixed(2)} s, faster than the wire allows`);
  assert.ok(seconds < 6, `took ${seconds.toFixed(2)} s`);
});

test("stm32flash cannot read a read-protected part: the bootloader NACKs Read Memory", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  const dir = await tempDir(t);
  emu.mcu.memory.readProtected = true;
  const read = await stm32flash(["-S", "0x08000000:1024", "-r", join(dir, "back.bin"), emu.port]);
  assert.notEqual(read.code, 0);
  assert.match(read.stderr, /Failed to read memory at address 0x08000000/);
  assert.ok((emu.mcu.bootloader?.stats.nacks ?? 0) > 0);
});

test("stm32flash -k (readout unprotect) mass-erases a read-protected part and lifts the protection", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  emu.mcu.memory.write(0x0800_0000, Buffer.from("secret!!"));
  emu.mcu.memory.readProtected = true;
  const unprotect = await stm32flash(["-k", emu.port]);
  assert.equal(unprotect.code, 0, unprotect.stderr);
  assert.equal(emu.mcu.memory.readProtected, false);
  assert.ok(emu.mcu.memory.flash.every((b) => b === 0xff));
});

test("stm32flash -g starts the flashed application, which reports the image's fw_version in Sys.Info", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  const dir = await tempDir(t);
  await writeFile(join(dir, "fw.bin"), makeFirmwareImage({ size: 5000, version: "3.2.1" }));
  const write = await stm32flash(["-w", join(dir, "fw.bin"), "-g", "0x0", emu.port]);
  assert.equal(write.code, 0, write.stderr);
  await waitFor(() => emu.mcu.personality === "app");
  const client = await connectRpc(emu.port, { timeoutMs: 3000, baudRate: 115200 });
  try {
    const info = (await client.call("Sys.Info")) as { fw_version: string };
    assert.equal(info.fw_version, "3.2.1");
  } finally {
    await client.close();
  }
});

async function waitFor(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
