/**
 * Intel HEX text as `objcopy -O ihex` writes it (16-byte data records, an extended linear address
 * record wherever the upper 16 bits change, a start address, the end-of-file record), for tests
 * that turn a .hex with gaps into a bundle.
 */

/** One record: length, 16-bit offset, type, data, checksum. */
function record(type: number, offset: number, data: readonly number[]): string {
  const bytes = [data.length, offset >> 8, offset & 0xff, type, ...data];
  const sum = (0x100 - (bytes.reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
  return `:${[...bytes, sum].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join("")}`;
}

/** The segments (each bytes at an address) as Intel HEX; the start address is the first segment's. */
export function intelHex(segments: readonly { address: number; data: Uint8Array }[]): string {
  const lines: string[] = [];
  let upper = -1;
  for (const s of segments) {
    for (let off = 0; off < s.data.length;) {
      const at = s.address + off;
      if (at >>> 16 !== upper) {
        upper = at >>> 16;
        lines.push(record(0x04, 0, [upper >> 8, upper & 0xff]));
      }
      // A record never crosses a 64 KiB boundary.
      const n = Math.min(16, s.data.length - off, 0x10000 - (at & 0xffff));
      lines.push(record(0x00, at & 0xffff, [...s.data.subarray(off, off + n)]));
      off += n;
    }
  }
  const start = segments[0]?.address ?? 0;
  lines.push(record(0x05, 0, [start >>> 24, (start >>> 16) & 0xff, (start >>> 8) & 0xff, start & 0xff]));
  lines.push(record(0x01, 0, []));
  return lines.join("\n") + "\n";
}
