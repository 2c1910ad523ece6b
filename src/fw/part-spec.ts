/**
 * mos's part syntax for `create-fw-bundle`: `name:key=value,key=value` (mos-protocols.md §8).
 * Values: `""` → "", `true`/`false` → booleans, `'…'`/`"…"` → strings, integers as Go's
 * `strconv.ParseInt(v, 0, 32)` reads them (`0x8000000`, `0o17`, `017`, `0b101`, `-5`), anything else a
 * string. Unlike mos, `addr` takes the whole uint32 range (0x80000000 and up).
 */
import { CcmError } from "../errors.js";

export type PartAttr = string | number | boolean;

/** A part as given on the command line: its name and its attributes in the order given. */
export interface PartSpec {
  name: string;
  attrs: Record<string, PartAttr>;
}

/** Go's base-0 integer syntax; undefined when `text` is not an integer. */
export function parseGoInt(text: string): number | undefined {
  const m = /^([+-]?)(?:0[xX]([0-9a-fA-F]+)|0[oO]([0-7]+)|0[bB]([01]+)|(0[0-7]*)|([1-9][0-9]*))$/.exec(text);
  if (m === null) return undefined;
  const [, sign, hex, oct, bin, leadingZeroOct, dec] = m;
  const value =
    hex !== undefined
      ? parseInt(hex, 16)
      : oct !== undefined
        ? parseInt(oct, 8)
        : bin !== undefined
          ? parseInt(bin, 2)
          : leadingZeroOct !== undefined
            ? parseInt(leadingZeroOct, 8)
            : parseInt(dec!, 10);
  return sign === "-" ? -value : value;
}

/** One value of a part spec, typed as mos types it. */
export function parseAttrValue(key: string, raw: string): PartAttr {
  if (raw === "" || raw === '""' || raw === "''") return "";
  if (raw === "true") return true;
  if (raw === "false") return false;
  if (raw.length >= 2 && (raw[0] === "'" || raw[0] === '"') && raw.at(-1) === raw[0]) return raw.slice(1, -1);
  const n = parseGoInt(raw);
  const max = key === "addr" ? 0xffffffff : 0x7fffffff;
  const min = key === "addr" ? 0 : -0x80000000;
  if (n !== undefined && n >= min && n <= max) return n;
  if (key === "addr")
    throw new CcmError("BAD_ARGUMENT", `addr=${raw}: not an address (an integer 0..0xffffffff)`);
  return raw;
}

/** Parses `name:key=value,key=value`. */
export function parsePartSpec(spec: string): PartSpec {
  const colon = spec.indexOf(":");
  if (colon <= 0)
    throw new CcmError(
      "BAD_ARGUMENT",
      `bad part "${spec}": expected name:key=value,… (e.g. host_fw:type=STM32,src=FIRMWARE.BIN,addr=0x8000000)`,
    );
  const name = spec.slice(0, colon);
  const attrs: Record<string, PartAttr> = {};
  const rest = spec.slice(colon + 1);
  for (const kv of rest === "" ? [] : rest.split(",")) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new CcmError("BAD_ARGUMENT", `bad part "${spec}": "${kv}" is not key=value`);
    const key = kv.slice(0, eq);
    attrs[key] = parseAttrValue(key, kv.slice(eq + 1));
  }
  return { name, attrs };
}
