/**
 * Our flasher against the bootloader emulator on a pty pair: what it erases for an image, and which
 * images it refuses for the part it finds.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isCcmError } from "../../src/errors.js";
import { flashStm32 } from "../../src/fw/stm32/flasher.js";
import { parseLineControl } from "../../src/lines/line-control.js";
import { makeFirmwareImage } from "../../src/sim/stm32/image.js";
import { startEmulator } from "../helpers/stm32.js";

test("an image past page 255 of an XL-density F1 (Erase 0x43 only) is erased with one global erase, never with page numbers wrapped to 0", async (t) => {
  const emu = await startEmulator(t, { chip: 0x430, mode: "bootloader" });
  // Old firmware in page 0 and in page 256 (0x08080000), which a wrapped page number would miss.
  emu.mcu.memory.write(0x0800_0000, Buffer.from("boot"));
  emu.mcu.memory.write(0x0808_0000, Buffer.from("old!"));
  const image = makeFirmwareImage({ size: 3000, address: 0x0808_0000, seed: 30 });
  const steps: string[] = [];
  const result = await flashStm32({
    port: emu.port,
    image,
    address: 0x0808_0000,
    onStep: (s, detail) => steps.push(`${s} ${detail}`),
  });
  assert.equal(result.eraseCommand, 0x43);
  assert.equal(result.massErase, true);
  assert.equal(result.pagesErased, 512);
  assert.ok(
    steps.includes(
      "erase the whole flash with Erase (Erase (0x43) numbers pages in one byte and page 256 is past 255)",
    ),
    steps.join("\n"),
  );
  assert.deepEqual(emu.mcu.memory.read(0x0808_0000, image.length), image);
  assert.equal(emu.mcu.memory.read(0x0800_0000, 4)?.toString("latin1"), "\xff\xff\xff\xff");
});

test("a 64 KiB F103C8 (a 0x410 whose flash size register says 64) refuses a 100 KiB image at step check, before anything is erased", async (t) => {
  const old = makeFirmwareImage({ size: 4096, version: "1.0", seed: 2 });
  const emu = await startEmulator(t, { chip: 0x410, flashKib: 64, initialImage: old });
  const lines = parseLineControl(emu.linesSpec);
  t.after(() => lines.close());
  await assert.rejects(
    flashStm32({ port: emu.port, lines, image: makeFirmwareImage({ size: 100 * 1024 }), bootDelayMs: 20 }),
    (e: unknown) => {
      assert.ok(isCcmError(e, "BAD_ARGUMENT"));
      assert.deepEqual(e.data, { step: "check" });
      assert.match(
        e.message,
        /the image is too large: 102400 bytes at 0x08000000 end at 0x08019000, past the end of the 64 KiB flash of STM32F10xxx Medium-density \(0x08010000, by its flash size register\)/,
      );
      return true;
    },
  );
  assert.deepEqual(emu.mcu.memory.flash.subarray(0, old.length), old);
  await waitFor(() => emu.mcu.personality === "app");
});

test("when the bootloader refuses to read the flash size register, the family's most flash is assumed", async (t) => {
  const emu = await startEmulator(t, { chip: 0x413, mode: "bootloader", hideFlashSize: true });
  const steps: string[] = [];
  const image = makeFirmwareImage({ size: 20_000, seed: 3 });
  await flashStm32({ port: emu.port, image, onStep: (s, detail) => steps.push(`${s} ${detail}`) });
  assert.ok(
    steps.includes("check the flash size register could not be read (NACK): assuming the family's 1024 KiB"),
    steps.join("\n"),
  );
  assert.deepEqual(emu.mcu.memory.flash.subarray(0, image.length), image);
});

async function waitFor(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
