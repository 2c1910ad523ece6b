import assert from "node:assert/strict";
import { test } from "node:test";
import { isCcmError } from "../../errors.js";
import { deviceByPid, withFlashSize } from "./devices.js";
import { planParts, type ImagePart } from "./image-plan.js";

/** F1 medium density: 1 KiB pages from 0x0800_0000. */
const f1 = deviceByPid(0x410)!;
const f4 = deviceByPid(0x413)!;

const part = (name: string, address: number, size: number, fill = 0x11): ImagePart => ({
  name,
  address,
  data: Buffer.alloc(size, fill),
});

test("two parts sharing a page are planned as one image: each page they touch is erased once, in order", () => {
  // host_fw ends at 0x08001770 in page 5; host_fw_1 starts in the same page at 0x08001780.
  const plan = planParts(f1, [part("host_fw_1", 0x0800_1780, 600, 0x22), part("host_fw", 0x0800_0000, 6000)]);
  assert.deepEqual(
    plan.pages.map((p) => p.index),
    [0, 1, 2, 3, 4, 5, 6],
  );
  assert.equal(plan.start, 0x0800_0000);
  assert.equal(plan.bytes, 6600);
});

test("every Write Memory block is at most 256 bytes at a 256-aligned address inside one page; where two parts meet, one block holds both with 0xFF between them", () => {
  const parts = [part("host_fw", 0x0800_0000, 6000), part("host_fw_1", 0x0800_1780, 600, 0x22)];
  const plan = planParts(f1, parts);
  for (const b of plan.blocks) {
    assert.ok(b.data.length > 0 && b.data.length <= 256, `block at ${b.address} is ${b.data.length} bytes`);
    assert.equal(b.address % 256, 0);
    assert.ok(b.page.start <= b.address && b.address + b.data.length <= b.page.start + b.page.size);
  }
  const addresses = plan.blocks.map((b) => b.address);
  assert.deepEqual(
    addresses,
    [...new Set(addresses)].sort((a, b) => a - b),
    "in address order, one per 256 bytes",
  );
  assert.deepEqual(
    plan.blocks.filter((b) => b.address >= 0x0800_1600).map((b) => [b.address, b.data.length]),
    [
      [0x0800_1600, 256],
      [0x0800_1700, 256],
      [0x0800_1800, 256],
      [0x0800_1900, 216],
    ],
  );
  // The flash as the blocks leave it (erased pages are 0xFF): each part byte for byte, 0xFF between.
  const flash = Buffer.alloc(0x1a00, 0xff);
  for (const b of plan.blocks) b.data.copy(flash, b.address - 0x0800_0000);
  assert.deepEqual(flash.subarray(0, 6000), parts[0]!.data);
  assert.deepEqual(flash.subarray(0x1770, 0x1780), Buffer.alloc(16, 0xff));
  assert.deepEqual(flash.subarray(0x1780, 0x1780 + 600), parts[1]!.data);
  const shared = plan.blocks.find((b) => b.address === 0x0800_1700)!;
  assert.deepEqual(shared.data.subarray(0x70, 0x80), Buffer.alloc(16, 0xff));
});

test("one part is planned as an image always was: blocks of 256 bytes from its page", () => {
  const plan = planParts(f4, [part("host_fw", 0x0800_4000, 1000)]);
  assert.deepEqual(
    plan.pages.map((p) => p.index),
    [1],
  );
  assert.deepEqual(
    plan.blocks.map((b) => [b.address - 0x0800_4000, b.data.length]),
    [
      [0, 256],
      [256, 256],
      [512, 256],
      [768, 232],
    ],
  );
});

/** Asserts that planning `parts` is BAD_ARGUMENT at step check with a message matching `re`. */
function refused(device: typeof f1, parts: ImagePart[], re: RegExp): void {
  assert.throws(
    () => planParts(device, parts),
    (e: unknown) => {
      assert.ok(isCcmError(e, "BAD_ARGUMENT"), String(e));
      assert.deepEqual(e.data, { step: "check" });
      assert.match(e.message, re);
      return true;
    },
  );
}

test("parts that overlap, a lowest part off a page boundary, and a part past the end are refused naming the part", () => {
  refused(
    f1,
    [part("host_fw", 0x0800_0000, 6000), part("host_fw_1", 0x0800_1700, 16)],
    /^parts host_fw and host_fw_1 overlap: host_fw \(6000 bytes at 0x08000000\) ends at 0x08001770, past the start of host_fw_1 at 0x08001700$/,
  );
  refused(
    f1,
    [part("host_fw", 0x0800_0100, 16), part("host_fw_1", 0x0800_1000, 16)],
    /^part host_fw: address 0x08000100 is not page-aligned: page 0 of STM32F10xxx Medium-density starts at 0x08000000 \(1024 bytes\); the lowest part must start a page$/,
  );
  refused(
    withFlashSize(f1, 64)!,
    [part("host_fw", 0x0800_0000, 16), part("host_fw_1", 0x0800_f000, 8192)],
    /^part host_fw_1 is too large: 8192 bytes at 0x0800f000 end at 0x08011000, past the end of the 64 KiB flash of STM32F10xxx Medium-density \(0x08010000, by its flash size register\)$/,
  );
  refused(
    f1,
    [part("host_fw", 0x0800_0000, 16), part("ext", 0x0900_0000, 16)],
    /^part ext: address 0x09000000 is outside the flash of STM32F10xxx Medium-density/,
  );
  refused(
    f1,
    [part("host_fw", 0x0800_0000, 16), part("host_fw_1", 0x0800_1000, 0)],
    /^part host_fw_1 is empty$/,
  );
  refused(f1, [], /^there is nothing to flash: no parts$/);
});

test("a later part may start at any byte: its block is written from the 256-aligned address, 0xFF before it", () => {
  const table = Buffer.from([1, 2, 3, 4, 5]);
  const plan = planParts(f1, [
    part("host_fw", 0x0800_0000, 16),
    { name: "table", address: 0x0800_1783, data: table },
  ]);
  const last = plan.blocks.at(-1)!;
  assert.equal(last.address, 0x0800_1700);
  assert.equal(last.data.length, 0x83 + 5);
  assert.ok(last.data.subarray(0, 0x83).every((b) => b === 0xff));
  assert.deepEqual([...last.data.subarray(0x83)], [1, 2, 3, 4, 5]);
  assert.deepEqual(
    plan.pages.map((p) => p.index),
    [0, 5],
  );
});

test("a single part keeps the image's messages, without a part name", () => {
  refused(
    f4,
    [part("host_fw", 0x0800_4100, 16)],
    /^address 0x08004100 is not page-aligned: page 1 of STM32F40xxx\/41xxx starts at 0x08004000 \(16384 bytes\)$/,
  );
  refused(
    f4,
    [part("host_fw", 0x080e_0000, 129 * 1024)],
    /^the image is too large: 132096 bytes at 0x080e0000/,
  );
  refused(f4, [part("host_fw", 0x0800_0000, 0)], /^the firmware image is empty$/);
});
