/**
 * Extracts a gzip'd tar (an installed ccm: `tar czf ccm.tgz package.json dist node_modules`, or an
 * `npm pack` tarball with its `package/` prefix) into a directory. Regular files and directories only;
 * links are skipped; absolute names and `..` are refused, so nothing lands outside the directory.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, normalize, sep } from "node:path";
import { gunzipSync } from "node:zlib";
import { CcmError } from "../errors.js";

/** One member of the archive. */
interface TarMember {
  name: string;
  type: "file" | "dir" | "other";
  mode: number;
  data: Buffer;
}

function bad(message: string): CcmError {
  return new CcmError("UPDATE_FAILED", `ccm archive: ${message}`);
}

function field(block: Buffer, at: number, len: number): string {
  const raw = block.subarray(at, at + len);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? len : nul).toString("utf8");
}

function octal(block: Buffer, at: number, len: number): number {
  const text = field(block, at, len).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw bad(`bad number field "${text}"`);
  return parseInt(text, 8);
}

/** pax extended header records: `LEN key=value\n`. */
function paxPath(data: Buffer): string | undefined {
  let p = 0;
  while (p < data.length) {
    const space = data.indexOf(0x20, p);
    if (space < 0) break;
    const len = Number(data.subarray(p, space).toString());
    if (!Number.isInteger(len) || len <= 0) break;
    const rec = data.subarray(space + 1, p + len - 1).toString("utf8");
    if (rec.startsWith("path=")) return rec.slice(5);
    p += len;
  }
  return undefined;
}

/** Lists a tar's members (ustar, GNU long names, pax paths). */
export function readTar(tar: Buffer): TarMember[] {
  const out: TarMember[] = [];
  let p = 0;
  let longName: string | undefined;
  while (p + 512 <= tar.length) {
    const header = tar.subarray(p, p + 512);
    if (header.every((b) => b === 0)) break;
    const sum = octal(header, 148, 8);
    let check = 0;
    for (let i = 0; i < 512; i++) check += i >= 148 && i < 156 ? 0x20 : header[i]!;
    if (sum !== check) throw bad(`header checksum mismatch at offset ${p}`);
    const size = octal(header, 124, 12);
    const typeflag = String.fromCharCode(header[156]!);
    const prefix = field(header, 257, 6).startsWith("ustar") ? field(header, 345, 155) : "";
    const data = tar.subarray(p + 512, p + 512 + size);
    if (data.length !== size) throw bad("truncated");
    p += 512 + Math.ceil(size / 512) * 512;
    if (typeflag === "L" || typeflag === "x") {
      longName = typeflag === "L" ? field(data, 0, data.length) : (paxPath(data) ?? longName);
      continue;
    }
    if (typeflag === "g") continue;
    const name = longName ?? (prefix === "" ? field(header, 0, 100) : `${prefix}/${field(header, 0, 100)}`);
    longName = undefined;
    const type =
      typeflag === "0" || typeflag === "\0" || typeflag === "7" ? "file" : typeflag === "5" ? "dir" : "other";
    out.push({ name, type, mode: octal(header, 100, 8), data });
  }
  return out;
}

/** A member's path below the archive root, or undefined for the root itself; refuses escapes. */
function safePath(name: string): string | undefined {
  if (name.startsWith("/") || name.includes("\0")) throw bad(`refused absolute name ${JSON.stringify(name)}`);
  const parts = name.split("/").filter((s) => s !== "" && s !== ".");
  if (parts.includes("..")) throw bad(`refused name with .. ${JSON.stringify(name)}`);
  return parts.length === 0 ? undefined : normalize(parts.join(sep));
}

/** Extracts a .tgz into `dest` (created); strips a `package/` prefix shared by every member. */
export function extractTarGz(tgz: Buffer, dest: string): { files: number } {
  let tar: Buffer;
  try {
    tar = gunzipSync(tgz);
  } catch (e) {
    throw new CcmError("UPDATE_FAILED", "ccm archive: not a gzip'd tar", { cause: e });
  }
  const members = readTar(tar);
  const strip = members.length > 0 && members.every((m) => /^(\.\/)?package(\/|$)/.test(m.name));
  mkdirSync(dest, { recursive: true });
  let files = 0;
  for (const m of members) {
    const rel = safePath(strip ? m.name.replace(/^(\.\/)?package(\/|$)/, "") : m.name);
    if (rel === undefined || m.type === "other") continue;
    const path = join(dest, rel);
    if (m.type === "dir") {
      mkdirSync(path, { recursive: true });
      continue;
    }
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, m.data);
    chmodSync(path, m.mode & 0o111 ? 0o755 : 0o644);
    files++;
  }
  return { files };
}
