import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { isCcmError } from "../../errors.js";
import { Stm32Mcu } from "../../sim/stm32/mcu.js";
import { makeFirmwareImage } from "../../sim/stm32/image.js";
import { memoryPair, type MemoryLineSettings } from "../../transports/memory.js";
import { coveredPages, flashStm32 } from "./flasher.js";
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

/** An emulated F1 in its bootloader on the far end of a memory pair; the near end records its line settings. */
async function rig(t: TestContext) {
  const [host, device] = memoryPair();
  const mcu = new Stm32Mcu({ chip: 0x410, mode: "bootloader", pacing: false });
  await mcu.wrap(device).open();
  t.after(() => {
    mcu.close();
  });
  const updates: MemoryLineSettings[] = [];
  const writes = new Set<string>();
  const update = host.update.bind(host);
  host.update = (settings) => {
    updates.push(settings);
    return update(settings);
  };
  const write = host.write.bind(host);
  host.write = (data) => {
    writes.add(`${host.lineSettings.baudRate} ${host.lineSettings.parity}`);
    return write(data);
  };
  return { host, mcu, updates, writes };
}

test("the flasher talks to the bootloader at 8E1 and gives the port back at the host's speed and 8N1", async (t) => {
  const { host, mcu, updates, writes } = await rig(t);
  const image = makeFirmwareImage({ size: 1500 });
  await flashStm32({ port: host, baud: 57600, appBaud: 9600, image });
  assert.deepEqual(updates, [
    { baudRate: 57600, parity: "even" },
    { baudRate: 9600, parity: "none" },
  ]);
  assert.deepEqual([...writes], ["57600 even"], "every byte to the bootloader went out at 8E1");
  assert.deepEqual(host.lineSettings, { baudRate: 9600, parity: "none" });
  assert.deepEqual(mcu.memory.flash.subarray(0, image.length), image);
});

test("a flash that fails also gives the port back at 8N1", async (t) => {
  const { host, mcu } = await rig(t);
  mcu.injectNacks(100, 0x43);
  await assert.rejects(
    flashStm32({ port: host, baud: 57600, appBaud: 9600, image: makeFirmwareImage(), retries: 0 }),
    (e: unknown) => isCcmError(e, "FLASH_FAILED"),
  );
  assert.deepEqual(host.lineSettings, { baudRate: 9600, parity: "none" });
});
