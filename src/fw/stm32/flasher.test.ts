import assert from "node:assert/strict";
import { test } from "node:test";
import { isCcmError } from "../../errors.js";
import { coveredPages } from "./flasher.js";
import { deviceByPid, pagesOf } from "./devices.js";

const f1 = deviceByPid(0x410)!;
const f4 = deviceByPid(0x413)!;

test("the pages an image covers are those it touches, counted from its page-aligned start", () => {
  assert.deepEqual(
    coveredPages(f1, 0x0800_0000, 1025).map((p) => p.index),
    [0, 1],
  );
  assert.deepEqual(
    coveredPages(f1, 0x0800_0800, 1024).map((p) => p.index),
    [2],
  );
  // F4 sectors: 4 × 16 KiB, 64 KiB, then 128 KiB.
  assert.deepEqual(
    coveredPages(f4, 0x0800_0000, 70 * 1024).map((p) => p.index),
    [0, 1, 2, 3, 4],
  );
  assert.deepEqual(
    coveredPages(f4, 0x0802_0000, 1).map((p) => [p.index, p.size]),
    [[5, 128 * 1024]],
  );
  assert.equal(pagesOf(f4).length, 12);
});

test("an address off a page boundary, outside flash, or an image past the end is BAD_ARGUMENT", () => {
  const fails = (address: number, length: number, re: RegExp): void => {
    assert.throws(
      () => coveredPages(f4, address, length),
      (e: unknown) => isCcmError(e, "BAD_ARGUMENT") && re.test(e.message),
    );
  };
  fails(
    0x0800_4100,
    16,
    /not page-aligned: page 1 of STM32F40xxx\/41xxx starts at 0x08004000 \(16384 bytes\)/,
  );
  fails(0x0810_0000, 16, /outside the flash/);
  fails(0x080e_0000, 129 * 1024, /too large: 132096 bytes at 0x080e0000 end at 0x08100400/);
});
