/**
 * Our flasher against the bootloader emulator on a pty pair: what it erases for an image, and which
 * images it refuses for the part it finds.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { flashStm32 } from "../../src/fw/stm32/flasher.js";
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
