/**
 * Our flasher given an image in several parts (a bundle made from an Intel HEX with gaps) against
 * the bootloader emulator on a pty pair, RST/BOOT0 through the `sim` lines: one bootloader session,
 * each page erased once, every part written and verified whole, one Go.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isCcmError } from "../../src/errors.js";
import { flashStm32, type FlashProgress } from "../../src/fw/stm32/flasher.js";
import { parseLineControl } from "../../src/lines/line-control.js";
import { makeFirmwareImage } from "../../src/sim/stm32/image.js";
import { startEmulator, watchFlash } from "../helpers/stm32.js";

const OLD = makeFirmwareImage({ size: 16 * 1024, version: "1.0", seed: 11 });

test("an application and a table sharing a 2 KiB page are flashed in one session: each page erased once, both whole, the rest of the shared page erased", async (t) => {
  // STM32F10xxx high density: 2 KiB pages. host_fw ends at 0x08001770 in page 2 (0x08001000–0x080017ff);
  // the table starts at 0x08001780 in the same page and ends in page 3.
  const emu = await startEmulator(t, { chip: 0x414, initialImage: OLD });
  const seen = watchFlash(emu);
  const lines = parseLineControl(emu.linesSpec);
  t.after(() => lines.close());
  const app = makeFirmwareImage({ size: 6000, version: "2.0", seed: 20 });
  const table = makeFirmwareImage({ size: 1000, seed: 21 });
  const progress: FlashProgress[] = [];
  const result = await flashStm32({
    port: emu.port,
    lines,
    parts: [
      { name: "host_fw_1", address: 0x0800_1780, data: table },
      { name: "host_fw", address: 0x0800_0000, data: app },
    ],
    confirm: true,
    bootDelayMs: 20,
    onProgress: (p) => progress.push(p),
  });
  assert.deepEqual(seen.erased, [0, 1, 2, 3], "pages 0–3 erased, page 2 once");
  assert.equal(seen.bootloaderVisits(), 1, "one bootloader session");
  assert.deepEqual([result.parts, result.bytesWritten, result.pagesErased], [2, 7000, 4]);
  assert.deepEqual(emu.mcu.memory.read(0x0800_0000, app.length), app);
  assert.deepEqual(emu.mcu.memory.read(0x0800_1780, table.length), table);
  // What OLD held between the parts and after the table, up to the end of page 3, is erased.
  assert.deepEqual(emu.mcu.memory.read(0x0800_1770, 16), Buffer.alloc(16, 0xff));
  assert.deepEqual(emu.mcu.memory.read(0x0800_1b68, 0x0800_2000 - 0x0800_1b68), Buffer.alloc(0x498, 0xff));
  // Page 4 was not erased: OLD's bytes there are untouched.
  assert.deepEqual(emu.mcu.memory.read(0x0800_2000, 2048), OLD.subarray(0x2000, 0x2800));
  // Progress counts what crosses the wire: the parts' 7000 bytes and the 16 bytes of 0xFF between
  // them in the 256 bytes they share (0x08001700–0x080017ff, one block).
  assert.deepEqual(progress.at(-1), { step: "verify", done: 7016, total: 7016 });
  assert.deepEqual(progress.filter((p) => p.step === "erase").at(-1), { step: "erase", done: 4, total: 4 });
  // Go started the application at the lowest part's address.
  assert.equal((result.confirmed as { fw_version: string }).fw_version, "2.0");
});

test("overlapping parts are refused before the port is opened: the host never leaves its application", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, initialImage: OLD });
  const seen = watchFlash(emu);
  const lines = parseLineControl(emu.linesSpec);
  t.after(() => lines.close());
  await assert.rejects(
    flashStm32({
      port: emu.port,
      lines,
      parts: [
        { name: "host_fw", address: 0x0800_0000, data: makeFirmwareImage({ size: 4096 }) },
        { name: "host_fw_1", address: 0x0800_0800, data: makeFirmwareImage({ size: 64 }) },
      ],
      bootDelayMs: 20,
    }),
    (e: unknown) => {
      assert.ok(isCcmError(e, "BAD_ARGUMENT"));
      assert.deepEqual(e.data, { step: "check" });
      assert.match(e.message, /^parts host_fw and host_fw_1 overlap: host_fw \(4096 bytes at 0x08000000\)/);
      return true;
    },
  );
  assert.deepEqual([seen.erased, seen.bootloaderVisits()], [[], 0]);
  assert.deepEqual(emu.mcu.memory.read(0x0800_0000, OLD.length), OLD);
  assert.equal(emu.mcu.personality, "app");
});

test("goAddress starts the application in a part other than the lowest", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  // A vector table at 0x08000000 that does not boot, and an application at 0x08004000 that does.
  const stub = makeFirmwareImage({ size: 1024, stackPointer: 0xffff_ffff, seed: 3 });
  const app = makeFirmwareImage({ size: 3000, version: "7.1", address: 0x0800_4000, seed: 4 });
  const result = await flashStm32({
    port: emu.port,
    parts: [
      { name: "stub", address: 0x0800_0000, data: stub },
      { name: "app", address: 0x0800_4000, data: app },
    ],
    goAddress: 0x0800_4000,
    confirm: true,
  });
  assert.equal((result.confirmed as { fw_version: string }).fw_version, "7.1");
  assert.equal(emu.mcu.personality, "app");
});
