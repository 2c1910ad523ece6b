/**
 * Our flasher against the bootloader emulator's injected faults (reference stm32-ota.md §3.5) on a
 * pty pair: bytes lost or damaged on the wire, a bootloader that stalls, NACK storms on every command
 * and an unanswered 0x7F. Each is ridden out where the app note says to retry, or fails naming the step.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isCcmError } from "../../src/errors.js";
import { flashStm32, type FlashStep } from "../../src/fw/stm32/flasher.js";
import { parseLineControl } from "../../src/lines/line-control.js";
import { makeFirmwareImage } from "../../src/sim/stm32/image.js";
import { startEmulator } from "../helpers/stm32.js";

const IMAGE = makeFirmwareImage({ size: 3000, version: "7.0", seed: 17 });

test("a byte lost on its way to the bootloader leaves it waiting mid-block: the flasher resyncs and writes the block again", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  // The first data byte of the first block: the bootloader waits for one byte more than was sent.
  emu.mcu.injectFault({ kind: "drop", direction: "to-device", at: 6, command: 0x31 });
  const result = await flashStm32({ port: emu.port, image: IMAGE });
  assert.equal(result.bytesWritten, IMAGE.length);
  assert.deepEqual(emu.mcu.memory.flash.subarray(0, IMAGE.length), IMAGE);
  assert.equal(emu.mcu.faultsPending, 0);
});

test("an ACK lost or damaged on its way back: the flasher times out or sees a stray byte, resyncs and goes on", async (t) => {
  const emu = await startEmulator(t, { chip: 0x413, mode: "bootloader" });
  emu.mcu.injectFault({ kind: "drop", direction: "to-host", at: 0, command: 0x02 });
  emu.mcu.injectFault({ kind: "corrupt", direction: "to-host", at: 0, command: 0x31, mask: 0xff });
  const result = await flashStm32({ port: emu.port, image: IMAGE });
  assert.equal(result.pid, 0x413);
  assert.deepEqual(emu.mcu.memory.flash.subarray(0, IMAGE.length), IMAGE);
  assert.equal(emu.mcu.faultsPending, 0);
});

test("a bootloader that stalls for a moment is waited out and resynced", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  emu.mcu.injectFault({ kind: "stall", command: 0x31, ms: 300 });
  await flashStm32({ port: emu.port, image: IMAGE });
  assert.deepEqual(emu.mcu.memory.flash.subarray(0, IMAGE.length), IMAGE);
});

test("a bootloader that stalls for good fails the write step when nothing can reset it", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  emu.mcu.injectFault({ kind: "stall", command: 0x31 });
  await assert.rejects(flashStm32({ port: emu.port, image: IMAGE, retries: 1 }), (e: unknown) => {
    assert.ok(isCcmError(e, "FLASH_FAILED"));
    assert.deepEqual(e.data, { step: "write", address: 0x0800_0000 });
    assert.match(e.message, /step write: no success at 0x08000000 after 2 attempts: no answer within/);
    return true;
  });
});

test("with RST/BOOT0 lines, a bootloader that stalls for good is reset into a fresh one and the flash completes", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, initialImage: makeFirmwareImage({ version: "1.0" }) });
  const lines = parseLineControl(emu.linesSpec);
  t.after(() => lines.close());
  emu.mcu.injectFault({ kind: "stall", command: 0x31 });
  const steps: string[] = [];
  const result = await flashStm32({
    port: emu.port,
    lines,
    image: IMAGE,
    bootDelayMs: 20,
    confirm: true,
    onStep: (s, detail) => steps.push(`${s} ${detail}`),
  });
  assert.ok(steps.includes("enter-bootloader the bootloader went silent: resetting it"), steps.join("\n"));
  assert.equal((result.confirmed as { fw_version: string }).fw_version, "7.0");
});

test("a write whose ACK is lost after its data landed: the page is erased again and written from its first block, never programmed twice", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  // The third block (0x08000200, in page 0): its final ACK never arrives.
  emu.mcu.injectFault({ kind: "drop", direction: "to-host", at: 2, command: 0x31, skip: 2 });
  const steps: string[] = [];
  const result = await flashStm32({
    port: emu.port,
    image: IMAGE,
    onStep: (s, detail) => steps.push(`${s} ${detail}`),
  });
  assert.ok(
    steps.includes("erase page 0 again (0x08000000): the write at 0x08000200 failed"),
    steps.join("\n"),
  );
  assert.equal(result.verified, true);
  assert.deepEqual(emu.mcu.memory.flash.subarray(0, IMAGE.length), IMAGE);
});

test("a write that is ACKed but lands damaged is caught by verify: its page is erased and written again", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  emu.mcu.injectFault({ kind: "bad-write", count: 1, damage: "flip" });
  const steps: string[] = [];
  await flashStm32({ port: emu.port, image: IMAGE, onStep: (s, detail) => steps.push(`${s} ${detail}`) });
  assert.ok(
    steps.includes("erase page 0 again (0x08000000): 0x08000000 did not read back as written"),
    steps.join("\n"),
  );
  assert.deepEqual(emu.mcu.memory.flash.subarray(0, IMAGE.length), IMAGE);
});

test("a page that still does not read back after it was erased and written again fails at verify, naming the address", async (t) => {
  const emu = await startEmulator(t, { chip: 0x413, mode: "bootloader" });
  // Sector 0 write-protected: its erases and writes are ACKed and do nothing (AN3155).
  emu.mcu.memory.writeProtected.add(0);
  const image = makeFirmwareImage({ size: 2000, seed: 5 });
  await assert.rejects(flashStm32({ port: emu.port, image }), (e: unknown) => {
    assert.ok(isCcmError(e, "FLASH_FAILED"));
    assert.deepEqual(e.data, { step: "verify", address: 0x0800_0000 });
    assert.match(e.message, /step verify: flash at 0x08000000 does not hold what was written/);
    return true;
  });
});

const STEPS: [number, FlashStep][] = [
  [0x00, "get"],
  [0x01, "get-version"],
  [0x02, "get-id"],
  [0x43, "erase"],
  [0x11, "verify"],
  [0x21, "go"],
];

for (const [command, step] of STEPS) {
  test(`NACKs of command 0x${command.toString(16).padStart(2, "0")} are retried; a storm longer than the retries fails naming step ${step}`, async (t) => {
    const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
    emu.mcu.injectNacks(2, command);
    await flashStm32({ port: emu.port, image: IMAGE, retries: 2 });
    assert.deepEqual(emu.mcu.memory.flash.subarray(0, IMAGE.length), IMAGE);
    assert.equal(emu.mcu.nacksPending, 0);

    const again = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
    again.mcu.injectNacks(100, command);
    await assert.rejects(flashStm32({ port: again.port, image: IMAGE, retries: 2 }), (e: unknown) => {
      assert.ok(isCcmError(e, "FLASH_FAILED"));
      assert.equal((e.data as { step: string }).step, step);
      assert.match(e.message, new RegExp(`step ${step}: no success.* after 3 attempts: NACK`));
      return true;
    });
  });
}

test("NACKs that arrive 60 ms late during a resync are waited for: one retry is enough after a NACK", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  emu.mcu.injectNacks(1, 0x02);
  // Every NACK from here on (the storm's and the resync's) is held back 60 ms. Taken for silence, a
  // late one leaves a 0xFF in the command buffer and the retried Get ID is NACKed again.
  emu.mcu.injectFault({ kind: "late-nack", count: 10_000, ms: 60 });
  const result = await flashStm32({ port: emu.port, image: IMAGE, retries: 1 });
  assert.equal(result.pid, 0x410);
  assert.deepEqual(emu.mcu.memory.flash.subarray(0, IMAGE.length), IMAGE);
  assert.equal(emu.mcu.nacksPending, 0);
});

test("a bootloader that does not answer 0x7F at first is synced on a later try; one that never does fails at sync", async (t) => {
  const emu = await startEmulator(t, { chip: 0x410, mode: "bootloader" });
  emu.mcu.injectFault({ kind: "no-sync", count: 2 });
  await flashStm32({ port: emu.port, image: IMAGE });
  assert.deepEqual(emu.mcu.memory.flash.subarray(0, IMAGE.length), IMAGE);

  const deaf = await startEmulator(t, { chip: 0x410, initialImage: makeFirmwareImage({ version: "1.0" }) });
  deaf.mcu.injectFault({ kind: "no-sync", count: 1000 });
  const lines = parseLineControl(deaf.linesSpec);
  t.after(() => lines.close());
  await assert.rejects(
    flashStm32({ port: deaf.port, lines, image: IMAGE, bootDelayMs: 20 }),
    (e: unknown) => {
      assert.ok(isCcmError(e, "FLASH_FAILED"));
      assert.deepEqual(e.data, { step: "sync" });
      assert.match(e.message, /did not answer 0x7F after 3 resets \(is BOOT0 wired to sim:/);
      return true;
    },
  );
});
