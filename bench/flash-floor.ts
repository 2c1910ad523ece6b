/**
 * The "floor" contender of bench/flash.ts (BENCH_FLASH_FLOOR=1): the least a host can do to flash
 * and verify an image through AN3155, written to show how fast any flasher can be on this machine
 * and emulator, not to ship. One thread, blocking reads and writes on the tty (VMIN 0 / VTIME 1, as
 * stm32flash sets it), no event loop, no retries, no checks beyond the ACKs and the read-back, and
 * the order stm32flash uses: sync, erase the covered pages (or mass erase when Erase cannot number
 * them), then each 256-byte block written and read back at once.
 *
 * Synchronous: it blocks the calling thread for the whole flash. Linux only (stty -F).
 */
import { execFileSync } from "node:child_process";
import { closeSync, constants, openSync, readSync, writeSync } from "node:fs";
import type { ChipProfile } from "../src/sim/stm32/chips.js";

const ACK = 0x79;
const BLOCK = 256;

const xor = (b: Uint8Array): number => b.reduce((x, c) => x ^ c, 0);

/** Flashes `image` at the flash base and reads every block back; throws on a NACK, a timeout or a mismatch. */
export function flashFloor(path: string, image: Buffer, chip: ChipProfile, baud: number): void {
  execFileSync("stty", ["-F", path, "raw", "-echo", String(baud), "min", "0", "time", "1"]);
  const fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
  const read = (n: number, ms = 2000): Buffer => {
    const out = Buffer.alloc(n);
    const deadline = performance.now() + ms;
    let got = 0;
    while (got < n) {
      got += readSync(fd, out, got, n - got, null);
      if (got < n && performance.now() > deadline)
        throw new Error(`floor: ${got} of ${n} bytes within ${ms} ms`);
    }
    return out;
  };
  const send = (bytes: Uint8Array): void => {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off);
  };
  const ack = (ms?: number): void => {
    const b = read(1, ms)[0];
    if (b !== ACK) throw new Error(`floor: 0x${(b ?? 0).toString(16)} where ACK was due`);
  };
  const command = (code: number): void => {
    send(Buffer.from([code, code ^ 0xff]));
    ack();
  };
  const withXor = (bytes: number[] | Buffer): Buffer => {
    const b = Buffer.alloc(bytes.length + 1);
    b.set(bytes);
    b[bytes.length] = xor(b.subarray(0, bytes.length));
    return b;
  };
  const address = (a: number): void => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(a >>> 0);
    send(withXor(b));
    ack();
  };
  try {
    send(Buffer.from([0x7f]));
    ack();
    let covered = 0;
    for (let at = 0; at < image.length; covered++) at += chip.pages[covered]!;
    const eraseMs = 5000 + covered * 100;
    if (chip.commands.includes(0x44)) {
      command(0x44);
      const list = Buffer.alloc(2 + 2 * covered);
      list.writeUInt16BE(covered - 1, 0);
      for (let p = 0; p < covered; p++) list.writeUInt16BE(p, 2 + 2 * p);
      send(withXor(list));
    } else {
      command(0x43);
      send(
        covered <= 255
          ? withXor([covered - 1, ...Array.from({ length: covered }, (_, p) => p)])
          : Buffer.from([0xff, 0x00]),
      );
    }
    ack(eraseMs);
    for (let off = 0; off < image.length; off += BLOCK) {
      const data = image.subarray(off, off + BLOCK);
      command(0x31);
      address(chip.flashBase + off);
      send(withXor(Buffer.concat([Buffer.from([data.length - 1]), data])));
      ack();
      command(0x11);
      address(chip.flashBase + off);
      send(Buffer.from([data.length - 1, (data.length - 1) ^ 0xff]));
      ack();
      if (!read(data.length).equals(data))
        throw new Error(`floor: block at 0x${off.toString(16)} did not read back`);
    }
  } finally {
    closeSync(fd);
  }
}
