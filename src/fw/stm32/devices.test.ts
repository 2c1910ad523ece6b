import assert from "node:assert/strict";
import { test } from "node:test";
import { deviceByPid, pagesOf } from "./devices.js";

test("a dual-bank F42x/F43x or F469/F479 numbers bank 2's sectors 12–23 from 0x08100000: 4 × 16 KiB, 64 KiB, 7 × 128 KiB", () => {
  for (const pid of [0x419, 0x434]) {
    const pages = pagesOf(deviceByPid(pid)!);
    assert.equal(pages.length, 24);
    assert.deepEqual(
      pages.slice(11, 17).map((p) => [p.index, p.start, p.size / 1024]),
      [
        [11, 0x080e_0000, 128],
        [12, 0x0810_0000, 16],
        [13, 0x0810_4000, 16],
        [14, 0x0810_8000, 16],
        [15, 0x0810_c000, 16],
        [16, 0x0811_0000, 64],
      ],
    );
    const sector = pages.find((p) => p.start <= 0x0812_3456 && 0x0812_3456 < p.start + p.size)!;
    assert.deepEqual([sector.index, sector.start, sector.size / 1024], [17, 0x0812_0000, 128]);
    assert.equal(pages.at(-1)!.start + pages.at(-1)!.size, 0x0820_0000);
  }
});
