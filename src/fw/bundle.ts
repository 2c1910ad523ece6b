/**
 * Firmware bundles as `mos create-fw-bundle` makes them (stm32-ota.md §5.2, mos-protocols.md §8): a zip
 * whose first entry is `manifest.json` (one-space-indented JSON), then one stored entry per part named by
 * the basename of its `src`. Each part of the manifest carries `size`, `cs_sha1` and `cs_sha256`.
 *
 * Signatures are mos's: each signing key signs the manifest's bytes (ECDSA P-256: SHA-256, DER; Ed25519:
 * the bytes themselves), and the base64 signatures `sig0`…`sig7` are kept as JSON in the manifest
 * entry's zip extra field 0x293a, which readers that do not check signatures ignore.
 */
import { createHash, createPrivateKey, sign, verify, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";
import { CcmError } from "../errors.js";
import { parseIntelHex } from "./intel-hex.js";
import type { PartAttr } from "./part-spec.js";
import { checkEntryName, readZip, writeZip } from "./zip.js";

/** The manifest's entry name; it comes first in the zip. */
export const MANIFEST_NAME = "manifest.json";
/** Zip extra-field id mos keeps manifest signatures under. */
export const SIG_EXTRA_ID = 0x293a;
/** mos reads at most eight signatures (sig0…sig7). */
export const MAX_SIGNATURES = 8;

/** A part to put in a bundle: `src` is a file (`.hex` is parsed as Intel HEX). */
export interface PartInput {
  name: string;
  type: string;
  src?: string;
  addr?: number;
  [attr: string]: PartAttr | undefined;
}

export type KeyInput = KeyObject | string | Buffer;

export interface CreateBundleOptions {
  name: string;
  platform: string;
  description?: string;
  version?: string;
  buildId?: string;
  buildTimestamp?: string;
  /** More top-level manifest attributes (mos `--attr k=v`). */
  attrs?: Record<string, PartAttr>;
  parts: readonly PartInput[];
  /** Private key(s), ECDSA P-256 or Ed25519: a KeyObject or PEM. Up to eight. */
  signingKey?: KeyInput | readonly KeyInput[];
}

/** A part's entry in the manifest: mos's fields plus any attributes given. */
export type ManifestPart = Record<string, unknown> & { type: string; src?: string; addr?: number };

export interface Manifest {
  name?: string;
  platform: string;
  description?: string;
  version?: string;
  build_id?: string;
  build_timestamp?: string;
  parts: Record<string, ManifestPart>;
  [attr: string]: unknown;
}

/** A part read from a bundle, its data checked against the manifest. */
export type BundlePart = ManifestPart & { name: string; size: number; data: Buffer };

export interface ReadBundleOptions {
  /** Refuse a bundle for another platform (compared case-insensitively). */
  platform?: string;
  /** When non-empty, the manifest must carry a signature by one of these public keys. */
  trustedKeys?: readonly KeyObject[];
}

export interface Bundle {
  manifest: Manifest;
  parts: BundlePart[];
  /** How many signatures the manifest carries, and which trusted key (by index) verified one. */
  signatures: number;
  trustedKey?: number;
}

const PART_ORDER = ["type", "src", "addr", "size", "fill", "flash", "cs_sha1", "cs_sha256"];

function invalid(message: string): CcmError {
  return new CcmError("BUNDLE_INVALID", message);
}

const sha = (algo: "sha1" | "sha256", data: Uint8Array): string =>
  createHash(algo).update(data).digest("hex");

/** Parts as they go into the manifest: `.hex` files become one part per contiguous span. */
function expandParts(parts: readonly PartInput[]): { name: string; attrs: PartInput; data?: Buffer }[] {
  const out: { name: string; attrs: PartInput; data?: Buffer }[] = [];
  for (const p of parts) {
    if (p.src === undefined) {
      out.push({ name: p.name, attrs: p });
      continue;
    }
    let raw: Buffer;
    try {
      raw = readFileSync(p.src);
    } catch (e) {
      throw new CcmError("BAD_ARGUMENT", `part ${p.name}: cannot read ${p.src}`, { cause: e });
    }
    if (extname(p.src).toLowerCase() !== ".hex") {
      out.push({ name: p.name, attrs: { ...p, src: basename(p.src) }, data: raw });
      continue;
    }
    if (p.addr !== undefined)
      throw new CcmError("BAD_ARGUMENT", `part ${p.name}: addr comes from the .hex file; do not give one`);
    let segments;
    try {
      segments = parseIntelHex(raw.toString("latin1"));
    } catch (e) {
      throw new CcmError("BAD_ARGUMENT", `part ${p.name}: ${p.src}: ${(e as Error).message}`);
    }
    const stem = basename(p.src).slice(0, -4);
    segments.forEach((s, i) => {
      const name = i === 0 ? p.name : `${p.name}_${i}`;
      const src = segments.length === 1 ? `${stem}.bin` : `${stem}.${i}.bin`;
      out.push({ name, attrs: { ...p, name, src, addr: s.addr }, data: s.data });
    });
  }
  return out;
}

function privateKey(k: KeyInput): KeyObject {
  const key = typeof k === "string" || Buffer.isBuffer(k) ? createPrivateKey(k) : k;
  if (key.type !== "private") throw new CcmError("BAD_ARGUMENT", "a signing key must be a private key");
  const kind = key.asymmetricKeyType;
  if (kind === "ed25519") return key;
  if (kind === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return key;
  throw new CcmError(
    "BAD_ARGUMENT",
    `signing keys are ECDSA P-256 or Ed25519, not ${kind ?? "?"}${kind === "ec" ? ` (${key.asymmetricKeyDetails?.namedCurve ?? "?"})` : ""}`,
  );
}

/** Signs manifest bytes as mos does for ECDSA P-256 (SHA-256, DER); Ed25519 signs the bytes. */
export function signManifest(manifest: Uint8Array, key: KeyInput): Buffer {
  const k = privateKey(key);
  return k.asymmetricKeyType === "ed25519"
    ? sign(null, manifest, k)
    : sign("sha256", manifest, { key: k, dsaEncoding: "der" });
}

function verifies(manifest: Uint8Array, key: KeyObject, sig: Buffer): boolean {
  try {
    return key.asymmetricKeyType === "ed25519"
      ? verify(null, manifest, key, sig)
      : verify("sha256", manifest, { key, dsaEncoding: "der" }, sig);
  } catch {
    return false;
  }
}

/** Makes a bundle: manifest first, every part stored, checksums computed, optionally signed. */
export function createBundle(options: CreateBundleOptions): Buffer {
  if (options.name === "" || options.platform === "")
    throw new CcmError("BAD_ARGUMENT", "a bundle needs a name and a platform");
  if (options.parts.length === 0) throw new CcmError("BAD_ARGUMENT", "a bundle needs at least one part");
  const parts = expandParts(options.parts);
  const manifestParts: Record<string, ManifestPart> = {};
  const files: { name: string; data: Buffer }[] = [];
  for (const p of [...parts].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (p.name in manifestParts) throw new CcmError("BAD_ARGUMENT", `two parts named ${p.name}`);
    const given: Record<string, unknown> = { ...p.attrs };
    delete given.name;
    if (typeof given.type !== "string" || given.type === "")
      throw new CcmError("BAD_ARGUMENT", `part ${p.name}: type= is required (e.g. type=STM32)`);
    const fields: Record<string, unknown> = { ...given };
    if (p.data !== undefined) {
      const src = String(given.src);
      checkEntryName(src);
      if (src === MANIFEST_NAME || files.some((f) => f.name === src))
        throw new CcmError("BAD_ARGUMENT", `part ${p.name}: another file is already stored as ${src}`);
      files.push({ name: src, data: p.data });
      Object.assign(fields, {
        size: p.data.length,
        cs_sha1: sha("sha1", p.data),
        cs_sha256: sha("sha256", p.data),
      });
    }
    const ordered: Record<string, unknown> = {};
    for (const k of PART_ORDER) if (fields[k] !== undefined) ordered[k] = fields[k];
    for (const [k, v] of Object.entries(fields)) if (!(k in ordered) && v !== undefined) ordered[k] = v;
    manifestParts[p.name] = ordered as ManifestPart;
  }
  const manifest: Record<string, unknown> = { name: options.name, platform: options.platform };
  if (options.description !== undefined) manifest.description = options.description;
  if (options.version !== undefined) manifest.version = options.version;
  if (options.buildId !== undefined) manifest.build_id = options.buildId;
  if (options.buildTimestamp !== undefined) manifest.build_timestamp = options.buildTimestamp;
  manifest.parts = manifestParts;
  for (const [k, v] of Object.entries(options.attrs ?? {})) if (!(k in manifest)) manifest[k] = v;
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 1));
  const keys =
    options.signingKey === undefined
      ? []
      : Array.isArray(options.signingKey)
        ? options.signingKey
        : [options.signingKey];
  if (keys.length > MAX_SIGNATURES)
    throw new CcmError("BAD_ARGUMENT", `at most ${MAX_SIGNATURES} signing keys`);
  const extra = new Map<number, Uint8Array>();
  if (keys.length > 0) {
    const sigs = Object.fromEntries(
      keys.map((k: KeyInput, i) => [`sig${i}`, signManifest(manifestBytes, k).toString("base64")]),
    );
    extra.set(SIG_EXTRA_ID, Buffer.from(JSON.stringify(sigs)));
  }
  return writeZip([{ name: MANIFEST_NAME, data: manifestBytes, extra }, ...files]);
}

/** The signatures in the manifest entry's extra field 0x293a. */
function signaturesOf(extra: Map<number, Buffer>): Buffer[] {
  const field = extra.get(SIG_EXTRA_ID);
  if (field === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(field.toString("utf8"));
  } catch {
    throw new CcmError(
      "BUNDLE_UNTRUSTED",
      "manifest.json: the signature field (zip extra 0x293a) is not JSON",
    );
  }
  if (typeof parsed !== "object" || parsed === null) return [];
  const sigs: Buffer[] = [];
  for (let i = 0; i < MAX_SIGNATURES; i++) {
    const s = (parsed as Record<string, unknown>)[`sig${i}`];
    if (typeof s === "string" && s !== "") sigs.push(Buffer.from(s, "base64"));
  }
  return sigs;
}

function parseManifest(bytes: Buffer): Manifest {
  let m: unknown;
  try {
    m = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw invalid(`manifest.json is not JSON: ${(e as Error).message}`);
  }
  if (typeof m !== "object" || m === null || Array.isArray(m))
    throw invalid("manifest.json is not an object");
  const o = m as Record<string, unknown>;
  if (typeof o.platform !== "string" || o.platform === "") throw invalid("manifest.json has no platform");
  if (typeof o.parts !== "object" || o.parts === null || Array.isArray(o.parts))
    throw invalid("manifest.json has no parts");
  return m as Manifest;
}

function checkPart(name: string, part: unknown, files: Map<string, Buffer>): BundlePart {
  const where = `part ${name}`;
  try {
    checkEntryName(name);
  } catch {
    throw invalid(`refused part name ${JSON.stringify(name)}`);
  }
  if (typeof part !== "object" || part === null || Array.isArray(part))
    throw invalid(`${where} is not an object`);
  const p = part as ManifestPart;
  if (typeof p.type !== "string") throw invalid(`${where} has no type`);
  if (p.addr !== undefined && (!Number.isInteger(p.addr) || p.addr < 0 || p.addr > 0xffffffff))
    throw invalid(`${where}: addr ${JSON.stringify(p.addr)} is not an address`);
  if (p.src === undefined) return { ...p, name, size: 0, data: Buffer.alloc(0) };
  if (typeof p.src !== "string" || p.src === MANIFEST_NAME) throw invalid(`${where}: bad src`);
  const data = files.get(p.src);
  if (data === undefined) throw invalid(`${where}: ${p.src} is not in the bundle`);
  if (typeof p.size !== "number") throw invalid(`${where}: the manifest gives no size`);
  if (data.length !== p.size)
    throw invalid(`${where} (${p.src}): size ${data.length}, the manifest says ${p.size}`);
  if (typeof p.cs_sha256 !== "string") throw invalid(`${where}: the manifest gives no cs_sha256`);
  const s256 = sha("sha256", data);
  if (s256 !== p.cs_sha256.toLowerCase())
    throw invalid(`${where} (${p.src}): SHA-256 mismatch: ${s256}, the manifest says ${p.cs_sha256}`);
  if (p.cs_sha1 !== undefined) {
    const s1 = sha("sha1", data);
    if (typeof p.cs_sha1 !== "string" || s1 !== p.cs_sha1.toLowerCase())
      throw invalid(
        `${where} (${p.src}): SHA-1 mismatch: ${s1}, the manifest says ${JSON.stringify(p.cs_sha1)}`,
      );
  }
  return { ...p, name, size: data.length, data };
}

/**
 * Reads a bundle and checks all of it: the zip (names, CRC-32, sizes), manifest.json first, the
 * platform, the signature when trusted keys are given, and every part's size, SHA-1 and SHA-256.
 */
export function readBundle(buf: Buffer, options: ReadBundleOptions = {}): Bundle {
  const entries = readZip(buf);
  const first = entries[0];
  if (first?.name !== MANIFEST_NAME)
    throw invalid(`manifest.json must be the first entry of a bundle (found ${first?.name ?? "no entries"})`);
  const sigs = signaturesOf(first.extra);
  const trusted = options.trustedKeys ?? [];
  let trustedKey: number | undefined;
  if (trusted.length > 0) {
    if (sigs.length === 0)
      throw new CcmError(
        "BUNDLE_UNTRUSTED",
        "the bundle is not signed, and a signature by a trusted key is required",
      );
    const at = trusted.findIndex((k) => sigs.some((s) => verifies(first.data, k, s)));
    if (at < 0)
      throw new CcmError(
        "BUNDLE_UNTRUSTED",
        `none of the bundle's ${sigs.length} signature(s) verifies with a trusted key (signed by another key, or manifest.json was changed)`,
      );
    trustedKey = at;
  }
  const manifest = parseManifest(first.data);
  if (options.platform !== undefined && manifest.platform.toLowerCase() !== options.platform.toLowerCase())
    throw invalid(`the bundle is for platform ${manifest.platform}, not ${options.platform}`);
  const files = new Map(entries.slice(1).map((e) => [e.name, e.data]));
  const parts = Object.entries(manifest.parts).map(([name, p]) => checkPart(name, p, files));
  return { manifest, parts, signatures: sigs.length, ...(trustedKey === undefined ? {} : { trustedKey }) };
}
