/**
 * Our flasher (src/fw/stm32/flasher.ts) against the bootloader emulator on a real pty pair, RST and
 * BOOT0 driven through the `sim` lines: every emulated part, NACK storms, a host that stays silent
 * after Go, and images that cannot be flashed.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isCcmError } from "../../src/errors.js";
import { flashStm32, type FlashProgress } from "../../src/fw/stm32/flasher.js";
import { NoLines, parseLineControl } from "../../src/lines/line-control.js";
import { CHIPS, flashSize } from "../../src/sim/stm32/chips.js";
import { makeFirmwareImage } from "../../src/sim/stm32/image.js";
import { startEmulator, stm32flash } from "../helpers/stm32.js";

const OLD = makeFirmwareImage({ version: "1.0", seed: 11 });

for (const chip of CHIPS) {
  const erase = chip.commands.includes(0x44) ? "Extended Erase" : "Erase";
  test(`the flasher resets a running ${chip.name} (0x${chip.pid.toString(16)}) into its bootloader, flashes with ${erase}, verifies, and Sys.Info shows the new fw_version`, async (t) => {
    const emu = await startEmulator(t, { chip: chip.pid, initialImage: OLD });
    assert.equal(emu.mcu.personality, "app");
    const lastPage = chip.flashBase + flashSize(chip) - chip.pages.at(-1)!;
    emu.mcu.memory.write(lastPage, Buffer.from("untouched"));
    const lines = parseLineControl(emu.linesSpec);
    t.after(() => lines.close());
    const image = makeFirmwareImage({ size: 20_000, version: "2.0.0", seed: chip.pid });
    const progress: FlashProgress[] = [];
    const result = await flashStm32({
      port: emu.port,
      lines,
      image,
      confirm: true,
      bootDelayMs: 20,
      onProgress: (p) => progress.push(p),
    });
    assert.equal(result.pid, chip.pid);
    assert.equal(result.eraseCommand, chip.commands.includes(0x44) ? 0x44 : 0x43);
    assert.equal(result.verified, true);
    assert.equal((result.confirmed as { fw_version: string }).fw_version, "2.0.0");
    assert.deepEqual(emu.mcu.memory.flash.subarray(0, image.length), image);
    assert.equal(emu.mcu.personality, "app");
    assert.deepEqual(progress.at(-1), { step: "verify", done: image.length, total: image.length });
    assert.ok(progress.some((p) => p.step === "write" && p.done === 256));
    // Only the covered pages were erased: the last page still holds what was put there.
    assert.ok(result.pagesErased < chip.pages.length);
    assert.equal(emu.mcu.memory.read(lastPage, 9)?.toString(), "untouched");
  });
}

test("the flasher rides out a NACK storm on Write Memory by retrying the block", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  emu.mcu.injectNacks(4, 0x31);
  const image = makeFirmwareImage({ size: 3000, version: "5.5" });
  const result = await flashStm32({ port: emu.port, lines: new NoLines(), image });
  assert.equal(result.bytesWritten, 3000);
  assert.deepEqual(emu.mcu.memory.flash.subarray(0, 3000), image);
  assert.equal(emu.mcu.nacksPending, 0, "the storm was used up");
});

test("blank blocks of an image (0xFF padding) are not sent, since their pages are erased, but are read back in verify", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  const memory = emu.mcu.memory;
  // Something in the flash where the padding goes: only the erase can make it 0xFF again.
  memory.write(0x0800_0800, Buffer.alloc(2048, 0x5a));
  const written: number[] = [];
  const write = memory.write.bind(memory);
  memory.write = (address, data) => {
    written.push(address);
    return write(address, data);
  };
  const image = makeFirmwareImage({ size: 6000, version: "7.7", seed: 77 });
  image.fill(0xff, 0x800, 0x1000); // blocks 8–15 of 24
  image.fill(0xff, 5888); // and the tail of the last block: 112 bytes, all 0xFF
  const progress: FlashProgress[] = [];
  const result = await flashStm32({ port: emu.port, image, onProgress: (p) => progress.push(p) });
  assert.equal(result.blankBlocks, 9);
  assert.deepEqual(
    written.map((a) => (a - 0x0800_0000) / 256),
    [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22],
  );
  assert.deepEqual(memory.flash.subarray(0, image.length), image);
  assert.equal(result.verified, true);
  assert.deepEqual(progress.filter((p) => p.step === "write").at(-1), {
    step: "write",
    done: image.length,
    total: image.length,
  });
});

test("an image that covers the whole flash is erased with one mass erase, as stm32flash does", async (t) => {
  const emu = await startEmulator(t, { chip: 0x440, mode: "bootloader" });
  let massErases = 0;
  let pageErases = 0;
  const memory = emu.mcu.memory;
  const massErase = memory.massErase.bind(memory);
  const erasePages = memory.erasePages.bind(memory);
  memory.massErase = () => {
    massErases++;
    massErase();
  };
  memory.erasePages = (pages) => {
    pageErases++;
    return erasePages(pages);
  };
  const image = makeFirmwareImage({ size: 64 * 1024, version: "6.4", seed: 64 });
  const result = await flashStm32({ port: emu.port, image });
  assert.equal(result.massErase, true);
  assert.equal(result.pagesErased, 64);
  assert.deepEqual([massErases, pageErases], [1, 0]);
  assert.deepEqual(emu.mcu.memory.flash, image);
});

test("a bootloader that refuses the mass erase gets the pages erased one by one", async (t) => {
  const emu = await startEmulator(t, { chip: 0x440, mode: "bootloader" });
  emu.mcu.injectNacks(1, 0x43);
  const image = makeFirmwareImage({ size: 64 * 1024, version: "6.5", seed: 65 });
  const result = await flashStm32({ port: emu.port, image });
  assert.equal(result.massErase, false);
  assert.equal(emu.mcu.nacksPending, 0);
  assert.deepEqual(emu.mcu.memory.flash, image);
});

test("a NACK storm longer than the retries fails naming the write step and the block's address", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  emu.mcu.injectNacks(100, 0x31);
  await assert.rejects(
    flashStm32({ port: emu.port, image: makeFirmwareImage({ size: 1024 }), retries: 3 }),
    (e: unknown) => {
      assert.ok(isCcmError(e, "FLASH_FAILED"));
      assert.deepEqual(e.data, { step: "write", address: 0x0800_0000 });
      assert.match(e.message, /step write: no success at 0x08000000 after 4 attempts: NACK/);
      return true;
    },
  );
});

test("a host that never answers after Go fails at the confirm step", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  // No valid vector table: the core faults at reset and the UART stays silent.
  const image = makeFirmwareImage({ size: 2048, version: "9.9", stackPointer: 0xffff_ffff });
  await assert.rejects(
    flashStm32({ port: emu.port, image, confirm: true, confirmTimeoutMs: 1200 }),
    (e: unknown) => {
      assert.ok(isCcmError(e, "FLASH_FAILED"));
      assert.deepEqual(e.data, { step: "confirm" });
      assert.match(e.message, /step confirm: the host did not answer after Go: no answer to Sys\.Info/);
      return true;
    },
  );
  assert.equal(emu.mcu.personality, "halted");
});

test("an address that is not page-aligned is refused before anything is erased, and the old app runs again", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, initialImage: OLD });
  const lines = parseLineControl(emu.linesSpec);
  t.after(() => lines.close());
  await assert.rejects(
    flashStm32({ port: emu.port, lines, image: makeFirmwareImage(), address: 0x0800_0100, bootDelayMs: 20 }),
    (e: unknown) => {
      assert.ok(isCcmError(e, "BAD_ARGUMENT"));
      assert.deepEqual(e.data, { step: "check" });
      assert.match(
        e.message,
        /address 0x08000100 is not page-aligned: page 0 of .* starts at 0x08000000 \(1024 bytes\)/,
      );
      return true;
    },
  );
  assert.deepEqual(emu.mcu.memory.flash.subarray(0, OLD.length), OLD);
  await waitFor(() => emu.mcu.personality === "app");
});

test("an image larger than the flash is refused with its size and the flash's end", async (t) => {
  const emu = await startEmulator(t, { chip: 0x440, mode: "bootloader" });
  await assert.rejects(flashStm32({ port: emu.port, image: Buffer.alloc(65 * 1024, 0x11) }), (e: unknown) => {
    assert.ok(isCcmError(e, "BAD_ARGUMENT"));
    assert.match(
      e.message,
      /image is too large: 66560 bytes at 0x08000000 end at 0x08010400, past the end of the 64 KiB flash/,
    );
    return true;
  });
});

test("with no lines and a target running its application, the flasher fails at sync", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, initialImage: OLD });
  await assert.rejects(flashStm32({ port: emu.port, image: makeFirmwareImage() }), (e: unknown) => {
    assert.ok(isCcmError(e, "FLASH_FAILED"));
    assert.deepEqual(e.data, { step: "sync" });
    assert.match(e.message, /must already be in its bootloader/);
    return true;
  });
});

test("a bootloader that stm32flash left synchronised (0x7F answered with NACK) is flashed all the same", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  const dir = await mkdtemp(join(tmpdir(), "ccm-flash-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "a.bin"), makeFirmwareImage({ size: 1024, version: "0.1" }));
  assert.equal((await stm32flash(["-w", join(dir, "a.bin"), emu.port])).code, 0);
  assert.equal(emu.mcu.bootloader?.isSynced, true);
  const image = makeFirmwareImage({ size: 4096, version: "0.2", seed: 4 });
  const result = await flashStm32({ port: emu.port, image, confirm: true });
  assert.equal((result.confirmed as { fw_version: string }).fw_version, "0.2");
});

test("the paced bootloader holds the flasher to the wire time at 115200 baud (never faster)", async (t) => {
  const emu = await startEmulator(t, { chip: 0x440, mode: "bootloader", pacing: true, baud: 115200 });
  const image = makeFirmwareImage({ size: 8 * 1024, version: "0.4", seed: 5 });
  const result = await flashStm32({ port: emu.port, image });
  // Wire: 32 blocks × (268 + 268) chars × 11 bits / 115200 = 1.64 s; 8 page erases 0.24 s; programming 0.22 s.
  const s = result.durationMs / 1000;
  // Only the floor is a property of the emulator; how much slower a busy machine is belongs in bench/.
  assert.ok(s > 2.0, `took ${s.toFixed(2)} s: pacing was bypassed`);
});

async function waitFor(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
