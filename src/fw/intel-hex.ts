/**
 * Intel HEX → binary segments, as mos's `fw_part_hex.go` makes bundle parts of a `.hex` file: data
 * records (00) placed at their address (02 extended segment and 04 extended linear addresses applied),
 * gaps shorter than 512 bytes filled with 0xFF, a longer gap starting a new segment.
 */
import { CcmError } from "../errors.js";

/** One contiguous run of bytes and where it loads. */
export interface HexSegment {
  addr: number;
  data: Buffer;
}

/** Gaps shorter than this are filled with 0xFF; longer ones split the image (mos's value). */
export const HEX_GAP_FILL = 512;

function bad(line: number, what: string): CcmError {
  return new CcmError("BUNDLE_INVALID", `Intel HEX line ${line}: ${what}`);
}

/** Parses Intel HEX text; every record's checksum is checked. */
export function parseIntelHex(text: string): HexSegment[] {
  const chunks: { addr: number; data: Buffer }[] = [];
  let base = 0;
  let ended = false;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    const n = i + 1;
    if (ended) throw bad(n, "data after the end-of-file record");
    if (!line.startsWith(":") || line.length < 11 || line.length % 2 === 0 || !/^:[0-9a-fA-F]+$/.test(line))
      throw bad(n, "not a record");
    const rec = Buffer.from(line.slice(1), "hex");
    const len = rec[0]!;
    if (rec.length !== len + 5) throw bad(n, `length ${len} does not match the record`);
    const sum = rec.reduce((a, b) => (a + b) & 0xff, 0);
    if (sum !== 0) throw bad(n, "checksum mismatch");
    const offset = rec.readUInt16BE(1);
    const type = rec[3]!;
    const data = rec.subarray(4, 4 + len);
    switch (type) {
      case 0x00:
        if (len > 0) chunks.push({ addr: (base + offset) >>> 0, data: Buffer.from(data) });
        break;
      case 0x01:
        ended = true;
        break;
      case 0x02:
        if (len !== 2) throw bad(n, "extended segment address record must hold 2 bytes");
        base = data.readUInt16BE(0) * 16;
        break;
      case 0x04:
        if (len !== 2) throw bad(n, "extended linear address record must hold 2 bytes");
        base = data.readUInt16BE(0) * 0x10000;
        break;
      case 0x03:
      case 0x05:
        break; // start address: not part of the image
      default:
        throw bad(n, `unknown record type ${type}`);
    }
  }
  if (!ended) throw new CcmError("BUNDLE_INVALID", "Intel HEX: no end-of-file record (truncated file?)");
  if (chunks.length === 0) throw new CcmError("BUNDLE_INVALID", "Intel HEX: no data records");
  chunks.sort((a, b) => a.addr - b.addr);
  const segments: { addr: number; parts: Buffer[]; end: number }[] = [];
  for (const c of chunks) {
    const last = segments.at(-1);
    if (last !== undefined && c.addr < last.end)
      throw new CcmError("BUNDLE_INVALID", `Intel HEX: data overlaps at 0x${c.addr.toString(16)}`);
    if (last !== undefined && c.addr - last.end < HEX_GAP_FILL) {
      if (c.addr > last.end) last.parts.push(Buffer.alloc(c.addr - last.end, 0xff));
      last.parts.push(c.data);
      last.end = c.addr + c.data.length;
    } else {
      segments.push({ addr: c.addr, parts: [c.data], end: c.addr + c.data.length });
    }
  }
  return segments.map((s) => ({ addr: s.addr, data: Buffer.concat(s.parts) }));
}
