import assert from "node:assert/strict";
import { test } from "node:test";
import { ACK, NACK, Stm32Bootloader } from "./bootloader.js";
import { chipByPid, withFlashSize } from "./chips.js";
import { Stm32Memory } from "./memory.js";
import { xor } from "./wire.js";

function rig(pid = 0x410, memory = new Stm32Memory(chipByPid(pid))) {
  const out: number[] = [];
  const events: string[] = [];
  const bl = new Stm32Bootloader({
    memory,
    baud: 115200,
    pacing: false,
    send: (b) => out.push(...b),
    onGo: (a) => events.push(`go ${a.toString(16)}`),
    onSystemReset: () => events.push("reset"),
  });
  const io = (...bytes: number[]): number[] => {
    out.length = 0;
    bl.receive(Buffer.from(bytes));
    return [...out];
  };
  const addr = (a: number): number[] => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(a);
    return [...b, xor(b)];
  };
  /** A Write Memory packet: N, data, XOR. */
  const packet = (...data: number[]): number[] => [
    data.length - 1,
    ...data,
    xor(Buffer.from([data.length - 1, ...data])),
  ];
  io(0x7f);
  return { memory, bl, io, addr, packet, events };
}

test("the bootloader ignores everything before 0x7F and then answers it with ACK", () => {
  const memory = new Stm32Memory(chipByPid(0x410));
  const out: number[] = [];
  const bl = new Stm32Bootloader({
    memory,
    baud: 0,
    pacing: false,
    send: (b) => out.push(...b),
    onGo: () => undefined,
    onSystemReset: () => undefined,
  });
  bl.receive(Buffer.from([0x00, 0xff, 0x55]));
  assert.deepEqual(out, []);
  bl.receive(Buffer.from([0x7f]));
  assert.deepEqual(out, [ACK]);
});

test("Get lists Erase (0x43) on an F1 and Extended Erase (0x44) on an F4, never both", () => {
  const f1 = rig(0x410).io(0x00, 0xff);
  assert.deepEqual(f1, [
    ACK,
    11,
    0x22,
    0x00,
    0x01,
    0x02,
    0x11,
    0x21,
    0x31,
    0x43,
    0x63,
    0x73,
    0x82,
    0x92,
    ACK,
  ]);
  const f4 = rig(0x413).io(0x00, 0xff);
  assert.ok(f4.includes(0x44) && !f4.includes(0x43));
  assert.deepEqual(rig(0x413).io(0x02, 0xfd), [ACK, 1, 0x04, 0x13, ACK]);
  assert.deepEqual(rig(0x410).io(0x01, 0xfe), [ACK, 0x22, 0, 0, ACK]);
});

test("a bad complement, an unsupported command, a bad address checksum or address is NACKed", () => {
  const r = rig(0x410);
  assert.deepEqual(r.io(0x00, 0x00), [NACK]);
  assert.deepEqual(r.io(0x44, 0xbb), [NACK], "Extended Erase is not offered on an F1");
  assert.deepEqual(r.io(0x11, 0xee), [ACK]);
  assert.deepEqual(r.io(0x08, 0, 0, 0, 0x00), [NACK], "address checksum");
  assert.deepEqual(r.io(0x11, 0xee), [ACK]);
  assert.deepEqual(r.io(...r.addr(0x0900_0000)), [NACK], "no memory there");
  assert.deepEqual(r.io(0x11, 0xee), [ACK], "back to command wait after a NACK");
});

test("Write Memory NACKs a bad checksum and programming over data that is not erased", () => {
  const r = rig(0x410);
  const block = [3, 1, 2, 3, 4];
  assert.deepEqual(r.io(0x31, 0xce), [ACK]);
  assert.deepEqual(r.io(...r.addr(0x0800_0000)), [ACK]);
  assert.deepEqual(r.io(...block, xor(Buffer.from(block)) ^ 1), [NACK]);
  r.io(0x31, 0xce);
  r.io(...r.addr(0x0800_0000));
  assert.deepEqual(r.io(...block, xor(Buffer.from(block))), [ACK]);
  assert.deepEqual([...r.memory.flash.subarray(0, 4)], [1, 2, 3, 4]);
  r.io(0x31, 0xce);
  r.io(...r.addr(0x0800_0000));
  const other = [3, 9, 9, 9, 9];
  assert.deepEqual(r.io(...other, xor(Buffer.from(other))), [NACK], "not erased");
});

test("Erase takes page lists and FF 00 (global); FF followed by anything else erases nothing", () => {
  const r = rig(0x410);
  r.memory.write(0x0800_0000, Buffer.from([1, 2, 3, 4]));
  r.memory.write(0x0800_0400, Buffer.from([5, 6, 7, 8]));
  assert.deepEqual(r.io(0x43, 0xbc, 0xff, 0x01), [ACK, ACK]);
  assert.equal(r.memory.flash[0], 1);
  assert.deepEqual(r.io(0x43, 0xbc, 0x00, 0x01, 0x01), [ACK, ACK], "page 1");
  assert.equal(r.memory.flash[0x400], 0xff);
  assert.equal(r.memory.flash[0], 1);
  assert.deepEqual(r.io(0x43, 0xbc, 0x00, 0xc8, 0xc8), [ACK, NACK], "page 200 does not exist");
  assert.deepEqual(r.io(0x43, 0xbc, 0xff, 0x00), [ACK, ACK]);
  assert.equal(r.memory.flash[0], 0xff);
});

test("Extended Erase takes 2-byte sector numbers and NACKs bank erases on a single-bank part", () => {
  const r = rig(0x413);
  r.memory.write(0x0800_4000, Buffer.from([1, 2, 3, 4]));
  assert.deepEqual(r.io(0x44, 0xbb, 0x00, 0x00, 0x00, 0x01, 0x01), [ACK, ACK]);
  assert.equal(r.memory.flash[0x4000], 0xff);
  assert.deepEqual(r.io(0x44, 0xbb, 0xff, 0xfe, 0x01), [ACK, NACK]);
  assert.deepEqual(r.io(0x44, 0xbb, 0xff, 0xff, 0x00), [ACK, ACK]);
});

test("under read protection Read, Write, Erase and Go are NACKed; Get still answers", () => {
  const r = rig(0x410);
  r.memory.readProtected = true;
  assert.deepEqual(r.io(0x11, 0xee), [NACK]);
  assert.deepEqual(r.io(0x31, 0xce), [NACK]);
  assert.deepEqual(r.io(0x43, 0xbc), [NACK]);
  assert.deepEqual(r.io(0x21, 0xde), [NACK]);
  assert.equal(r.io(0x00, 0xff)[0], ACK);
});

test("an injected NACK storm NACKs the next N matching commands, then the bootloader answers again", () => {
  const r = rig(0x410);
  r.bl.injectNacks(2, 0x31);
  assert.deepEqual(r.io(0x00, 0xff)[0], ACK, "other commands are not affected");
  assert.deepEqual(r.io(0x31, 0xce), [NACK]);
  assert.deepEqual(r.io(0x31, 0xce), [NACK]);
  assert.deepEqual(r.io(0x31, 0xce), [ACK]);
});

test("Go to flash is ACKed and then reported", () => {
  const r = rig(0x410);
  assert.deepEqual(r.io(0x21, 0xde), [ACK]);
  assert.deepEqual(r.io(...r.addr(0x0800_0000)), [ACK]);
  assert.deepEqual(r.events, ["go 8000000"]);
});

test("Write Memory NACKs an address that is not 4-aligned and a length that is not a multiple of 4", () => {
  const r = rig(0x410);
  assert.deepEqual(r.io(0x31, 0xce), [ACK]);
  assert.deepEqual(r.io(...r.addr(0x0800_0002)), [NACK], "unaligned address");
  r.io(0x31, 0xce);
  r.io(...r.addr(0x0800_0000));
  assert.deepEqual(r.io(...r.packet(1, 2, 3)), [NACK], "3 bytes");
  assert.deepEqual([...r.memory.flash.subarray(0, 3)], [0xff, 0xff, 0xff]);
  r.io(0x31, 0xce);
  r.io(...r.addr(0x0800_0000));
  assert.deepEqual(r.io(...r.packet(1, 2, 3, 0xff)), [ACK]);
  assert.deepEqual([...r.memory.flash.subarray(0, 4)], [1, 2, 3, 0xff]);
});

test("a byte lost on its way to the bootloader leaves it waiting for one more; a damaged one fails the checksum", () => {
  const r = rig(0x410);
  // Lose the first data byte of the next Write Memory (after 5 address bytes and N).
  r.bl.injectFault({ kind: "drop", direction: "to-device", at: 6, command: 0x31 });
  assert.deepEqual(r.io(0x31, 0xce), [ACK]);
  assert.deepEqual(r.io(...r.addr(0x0800_0000)), [ACK]);
  assert.deepEqual(r.io(...r.packet(1, 2, 3, 4)), [], "still waiting for a byte");
  assert.deepEqual(r.io(0xff), [NACK], "one more byte completes the packet, whose checksum fails");
  assert.equal(r.memory.flash[0], 0xff);
  r.bl.injectFault({ kind: "corrupt", direction: "to-device", at: 7 });
  r.io(0x31, 0xce);
  r.io(...r.addr(0x0800_0000));
  assert.deepEqual(r.io(...r.packet(1, 2, 3, 4)), [NACK]);
  r.io(0x31, 0xce);
  r.io(...r.addr(0x0800_0000));
  assert.deepEqual(r.io(...r.packet(1, 2, 3, 4)), [ACK], "each fault is used once");
});

test("a byte lost or damaged on its way to the host: the answer is missing one byte or holds another", () => {
  const r = rig(0x410);
  r.bl.injectFault({ kind: "drop", direction: "to-host", at: 0, command: 0x02 });
  assert.deepEqual(r.io(0x02, 0xfd), [1, 0x04, 0x10, ACK], "no ACK");
  r.bl.injectFault({ kind: "corrupt", direction: "to-host", at: 1, command: 0x02, mask: 0xff });
  assert.deepEqual(r.io(0x02, 0xfd), [ACK, 0xfe, 0x04, 0x10, ACK]);
  assert.deepEqual(r.io(0x02, 0xfd), [ACK, 1, 0x04, 0x10, ACK]);
  r.bl.injectFault({ kind: "drop", direction: "to-host", at: 4, command: 0x02, skip: 1 });
  assert.deepEqual(r.io(0x02, 0xfd), [ACK, 1, 0x04, 0x10, ACK], "skipped");
  assert.deepEqual(r.io(0x02, 0xfd), [ACK, 1, 0x04, 0x10], "the last ACK lost");
});

test("a stalled bootloader takes the command, answers nothing and hears nothing, then waits for a command", async () => {
  const r = rig(0x410);
  r.bl.injectFault({ kind: "stall", command: 0x31, ms: 80 });
  assert.deepEqual(r.io(0x00, 0xff)[0], ACK, "other commands are not affected");
  assert.deepEqual(r.io(0x31, 0xce), []);
  assert.deepEqual(r.io(0x00, 0xff), [], "deaf");
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(r.io(0x02, 0xfd), [ACK, 1, 0x04, 0x10, ACK]);
  r.bl.injectFault({ kind: "stall" });
  assert.deepEqual(r.io(0x02, 0xfd), []);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(r.io(0x02, 0xfd), [], "without ms: silent until the part is reset");
});

test("a bad write is ACKed yet lands damaged: nothing at all, or a flipped bit", () => {
  const r = rig(0x410);
  r.bl.injectFault({ kind: "bad-write", count: 1 });
  r.io(0x31, 0xce);
  r.io(...r.addr(0x0800_0000));
  assert.deepEqual(r.io(...r.packet(1, 2, 3, 4)), [ACK]);
  assert.deepEqual([...r.memory.flash.subarray(0, 4)], [0xff, 0xff, 0xff, 0xff]);
  r.bl.injectFault({ kind: "bad-write", count: 1, damage: "flip" });
  r.io(0x31, 0xce);
  r.io(...r.addr(0x0800_0000));
  assert.deepEqual(r.io(...r.packet(0x10, 2, 3, 4)), [ACK]);
  assert.deepEqual([...r.memory.flash.subarray(0, 4)], [0x11, 2, 3, 4]);
});

test("an unanswered 0x7F: the bootloader ignores the next N syncs", () => {
  const memory = new Stm32Memory(chipByPid(0x410));
  const out: number[] = [];
  const bl = new Stm32Bootloader({
    memory,
    baud: 0,
    pacing: false,
    send: (b) => out.push(...b),
    onGo: () => undefined,
    onSystemReset: () => undefined,
    faults: [{ kind: "no-sync", count: 2 }],
  });
  bl.receive(Buffer.from([0x7f, 0x7f]));
  assert.deepEqual(out, []);
  bl.receive(Buffer.from([0x7f]));
  assert.deepEqual(out, [ACK]);
});

test("a dual-bank F42x erases a bank with Extended Erase FFFE (bank 1) or FFFD (bank 2)", () => {
  const r = rig(0x419);
  r.memory.write(0x0800_0000, Buffer.from([1, 2, 3, 4]));
  r.memory.write(0x0810_0000, Buffer.from([5, 6, 7, 8]));
  assert.deepEqual(r.io(0x44, 0xbb, 0xff, 0xfd, 0x02), [ACK, ACK]);
  assert.equal(r.memory.flash[0x10_0000], 0xff);
  assert.equal(r.memory.flash[0], 1);
  assert.deepEqual(r.io(0x44, 0xbb, 0x00, 0x00, 0x00, 0x0c, 0x0c), [ACK, ACK], "sector 12");
  assert.deepEqual(r.io(0x44, 0xbb, 0xff, 0xfe, 0x01), [ACK, ACK]);
  assert.equal(r.memory.flash[0], 0xff);
});

test("the flash size register says how much flash the part has; some parts refuse to let it be read", () => {
  const f103c8 = new Stm32Memory(withFlashSize(chipByPid(0x410), 64));
  assert.equal(f103c8.flash.length, 64 * 1024);
  const r = rig(0x410, f103c8);
  assert.deepEqual(r.io(0x11, 0xee), [ACK]);
  assert.deepEqual(r.io(...r.addr(0x1fff_f7e0)), [ACK]);
  assert.deepEqual(r.io(0x01, 0xfe), [ACK, 64, 0], "N = 1: two bytes, 64 KiB little-endian");
  assert.deepEqual(r.io(0x11, 0xee), [ACK]);
  assert.deepEqual(r.io(...r.addr(0x0801_0000)), [NACK], "no flash past 64 KiB");
  const hidden = rig(0x413, new Stm32Memory(chipByPid(0x413), undefined, { flashSizeReadable: false }));
  assert.deepEqual(hidden.io(0x11, 0xee), [ACK]);
  assert.deepEqual(hidden.io(...hidden.addr(0x1fff_7a22)), [NACK]);
  assert.throws(() => withFlashSize(chipByPid(0x413), 100), /cannot have 100 KiB/);
});

test("an F1 refuses to program a halfword that is not erased, even with the value it holds (PGERR); 0x0000 is allowed", () => {
  const r = rig(0x410);
  const write = (...data: number[]): number[] => {
    r.io(0x31, 0xce);
    r.io(...r.addr(0x0800_0000));
    return r.io(...r.packet(...data));
  };
  assert.deepEqual(write(1, 2, 0xff, 0xff), [ACK]);
  assert.deepEqual(write(1, 2, 0xff, 0xff), [NACK], "the same data again");
  assert.deepEqual(write(0, 0, 5, 6), [ACK], "zeros over a programmed halfword, data into an erased one");
  assert.deepEqual([...r.memory.flash.subarray(0, 4)], [0, 0, 5, 6]);
  const f4 = rig(0x413);
  f4.io(0x31, 0xce);
  f4.io(...f4.addr(0x0800_0000));
  f4.io(...f4.packet(1, 2, 3, 4));
  f4.io(0x31, 0xce);
  f4.io(...f4.addr(0x0800_0000));
  assert.deepEqual(f4.io(...f4.packet(1, 2, 3, 4)), [ACK], "an F4 takes the same bytes again");
});
