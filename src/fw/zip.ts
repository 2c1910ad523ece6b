/**
 * The zip container of firmware bundles, read and written as mos does (`common/ourzip`): flat names,
 * entries stored (or deflated, when read), CRC-32 and sizes in every local header, no data descriptors.
 *
 * The reader is our own: it checks every entry's name, its local header against the central directory
 * and its CRC-32 and size, and hands back each entry's local-header extra fields (mos keeps bundle
 * signatures there). fflate only inflates and writes.
 */
import { crc32 } from "node:zlib";
import { inflateSync, zipSync } from "fflate";
import { CcmError } from "../errors.js";

/** One file of a zip, read and checked. */
export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  /** The uncompressed bytes, CRC-32 and size checked. */
  data: Buffer;
  /** Extra fields of the local header by header id (mos: 0x293a holds a manifest's signatures). */
  extra: Map<number, Buffer>;
}

/** A file to write: its bytes and optional extra fields by header id. */
export interface ZipInput {
  name: string;
  data: Uint8Array;
  extra?: Map<number, Uint8Array>;
}

/** Largest entry the reader inflates (a bundle holds firmware, not disk images). */
export const MAX_ENTRY_SIZE = 512 << 20;

/** A zip entry name as a bundle may have it: flat, printable, no path tricks. */
export function checkEntryName(name: string): void {
  const odd =
    name === "" ||
    name === "." ||
    name === ".." ||
    name.length > 255 ||
    /[/\\:]/.test(name) ||
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f]/.test(name);
  if (odd)
    throw invalid(`refused zip entry name ${JSON.stringify(name)}: bundle entries are plain file names`);
}

function invalid(message: string): CcmError {
  return new CcmError("BUNDLE_INVALID", message);
}

/** Writes entries in the order given, all stored (method 0), with a fixed 1980-01-01 timestamp. */
export function writeZip(entries: readonly ZipInput[]): Buffer {
  const files: Record<string, [Uint8Array, { level: 0; mtime: Date; extra?: Record<number, Uint8Array> }]> =
    {};
  for (const e of entries) {
    checkEntryName(e.name);
    if (e.name in files) throw invalid(`two bundle entries named ${e.name}`);
    const extra = e.extra === undefined ? undefined : Object.fromEntries(e.extra);
    files[e.name] = [
      e.data,
      { level: 0, mtime: new Date(1980, 0, 1), ...(extra === undefined ? {} : { extra }) },
    ];
  }
  return Buffer.from(zipSync(files));
}

const EOCD_SIG = 0x06054b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;

/** The end-of-central-directory record: searched backwards over the comment (≤ 64 KiB). */
function findEocd(buf: Buffer): number {
  const lowest = Math.max(0, buf.length - 22 - 0xffff);
  for (let i = buf.length - 22; i >= lowest; i--) {
    if (buf.readUInt32LE(i) === EOCD_SIG && i + 22 + buf.readUInt16LE(i + 20) === buf.length) return i;
  }
  throw invalid("not a zip file (no end of central directory)");
}

function parseExtra(buf: Buffer, where: string): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let p = 0;
  while (p + 4 <= buf.length) {
    const id = buf.readUInt16LE(p);
    const len = buf.readUInt16LE(p + 2);
    if (p + 4 + len > buf.length) throw invalid(`${where}: truncated extra field 0x${id.toString(16)}`);
    out.set(id, buf.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  return out;
}

/** Reads every entry of `buf`, checking names, headers, CRC-32 and sizes. */
export function readZip(buf: Buffer): ZipEntry[] {
  if (buf.length < 22) throw invalid("not a zip file (too short)");
  const eocd = findEocd(buf);
  const count = buf.readUInt16LE(eocd + 10);
  const cdSize = buf.readUInt32LE(eocd + 12);
  const cdOffset = buf.readUInt32LE(eocd + 16);
  if (buf.readUInt16LE(eocd + 4) !== 0 || buf.readUInt16LE(eocd + 8) !== count)
    throw invalid("multi-disk zip files are not bundles");
  if (count === 0xffff || cdOffset === 0xffffffff) throw invalid("ZIP64 bundles are not supported");
  if (cdOffset + cdSize > eocd) throw invalid("central directory out of bounds");
  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > eocd || buf.readUInt32LE(p) !== CEN_SIG)
      throw invalid(`central directory entry ${i} is corrupt`);
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    const csize = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString(flags & 0x800 ? "utf8" : "latin1");
    p += 46 + nameLen + extraLen + commentLen;
    checkEntryName(name);
    if (names.has(name)) throw invalid(`zip entry ${name} appears twice`);
    names.add(name);
    if (flags & 0x1) throw invalid(`zip entry ${name} is encrypted`);
    if (method !== 0 && method !== 8)
      throw invalid(`zip entry ${name}: compression method ${method} unsupported`);
    if (size > MAX_ENTRY_SIZE) throw invalid(`zip entry ${name} is too large (${size} bytes)`);
    if (local + 30 > cdOffset || buf.readUInt32LE(local) !== LOC_SIG)
      throw invalid(`zip entry ${name}: local header missing or corrupt`);
    const lNameLen = buf.readUInt16LE(local + 26);
    const lExtraLen = buf.readUInt16LE(local + 28);
    const lName = buf.subarray(local + 30, local + 30 + lNameLen).toString(flags & 0x800 ? "utf8" : "latin1");
    if (lName !== name || buf.readUInt16LE(local + 8) !== method)
      throw invalid(`zip entry ${name}: local header disagrees with the central directory`);
    const lCrc = buf.readUInt32LE(local + 14);
    if ((buf.readUInt16LE(local + 6) & 0x8) === 0 && lCrc !== crc)
      throw invalid(`zip entry ${name}: local header CRC-32 disagrees with the central directory`);
    const extra = parseExtra(buf.subarray(local + 30 + lNameLen, local + 30 + lNameLen + lExtraLen), name);
    const start = local + 30 + lNameLen + lExtraLen;
    if (start + csize > cdOffset) throw invalid(`zip entry ${name}: data runs past the end of the file`);
    const raw = buf.subarray(start, start + csize);
    let data: Buffer;
    if (method === 0) {
      if (csize !== size) throw invalid(`zip entry ${name}: stored entry with two sizes`);
      data = Buffer.from(raw);
    } else {
      try {
        data = Buffer.from(inflateSync(raw, { out: new Uint8Array(size) }));
      } catch (e) {
        throw new CcmError("BUNDLE_INVALID", `zip entry ${name}: cannot inflate`, { cause: e });
      }
    }
    if (data.length !== size) throw invalid(`zip entry ${name}: size ${data.length}, expected ${size}`);
    const actual = crc32(data);
    if (actual !== crc)
      throw invalid(
        `zip entry ${name}: CRC-32 mismatch (0x${actual.toString(16).padStart(8, "0")}, expected 0x${crc.toString(16).padStart(8, "0")})`,
      );
    entries.push({ name, method, data, extra });
  }
  return entries;
}
