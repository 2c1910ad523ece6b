/**
 * A device shadow as AWS IoT keeps one (reference peers.md §5): desired and reported state, per-leaf
 * metadata timestamps, a version, the delta between desired and reported; updates merge deeply,
 * `null` deletes, arrays replace, a stale `version` is a 409. Pure: no I/O, the time is passed in.
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

/** The stored shadow. */
export interface ShadowDocument {
  state: { desired?: JsonObject; reported?: JsonObject };
  metadata: { desired?: JsonObject; reported?: JsonObject };
  version: number;
}

/** An error document, published on `…/rejected` (code = HTTP status). */
export interface ShadowError {
  code: number;
  message: string;
  timestamp: number;
  clientToken?: string;
}

/** The documents an accepted update produces, named as the AWS topics they go to. */
export interface UpdateResult {
  accepted: JsonObject;
  documents: JsonObject;
  /** Present when desired and reported now differ. */
  delta?: JsonObject;
}

export interface ShadowLimits {
  /** Bytes of desired + reported (metadata excluded): 8192, as AWS. */
  maxBytes: number;
  /**
   * Levels of nesting counted from `state`: 6, as AWS's error text says, which leaves the 5 levels
   * inside desired / reported of AWS's quota (peers.md §5.5).
   */
  maxDepth: number;
}

const SECTIONS = ["desired", "reported"] as const;
type Section = (typeof SECTIONS)[number];

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A deep copy of JSON data. */
function clone<T extends Json>(v: T): T {
  return structuredClone(v);
}

/** Applies `patch` to `base` (both objects): nested objects merge, null deletes, the rest replaces. */
function merge(base: JsonObject, patch: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else if (isObject(v) && isObject(out[k])) out[k] = merge(out[k], v);
    else out[k] = clone(v);
  }
  return out;
}

/** A leaf's metadata, `{timestamp: N}` (an object's metadata may have a key named `timestamp`). */
function isLeafMeta(m: Json | undefined): boolean {
  return isObject(m) && typeof m.timestamp === "number";
}

/**
 * The metadata of one value set `now`: `{timestamp}` for a scalar, the same shape for an object, and
 * one entry per element for an array (as AWS's own shadow walkthrough shows it for `ColorRGB`).
 */
function stampValue(v: Json, now: number): Json {
  if (Array.isArray(v)) return v.map((x) => stampValue(x, now));
  if (isObject(v)) return stamp(v, now, false);
  return { timestamp: now };
}

/** Metadata for the leaves of `patch`: stamped `now`; a null gets one too when `keepNulls`. */
function stamp(patch: JsonObject, now: number, keepNulls: boolean): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      if (keepNulls) out[k] = { timestamp: now };
    } else out[k] = isObject(v) ? stamp(v, now, keepNulls) : stampValue(v, now);
  }
  return out;
}

/** The metadata after `patch`: merged like the state, with the patch's leaves stamped `now`. */
function mergeMetadata(base: JsonObject, patch: JsonObject, now: number): JsonObject {
  const out: JsonObject = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else if (isObject(v)) {
      const was = out[k];
      out[k] = mergeMetadata(isObject(was) && !isLeafMeta(was) ? was : {}, v, now);
    } else out[k] = stampValue(v, now);
  }
  return out;
}

/** Desired leaves that reported lacks or holds differently, with their full paths; arrays whole. */
export function computeDelta(desired: JsonObject | undefined, reported: JsonObject | undefined): JsonObject {
  const out: JsonObject = {};
  for (const [k, d] of Object.entries(desired ?? {})) {
    const r = reported?.[k];
    if (isObject(d) && isObject(r)) {
      const inner = computeDelta(d, r);
      if (Object.keys(inner).length > 0) out[k] = inner;
    } else if (r === undefined || JSON.stringify(d) !== JSON.stringify(r)) out[k] = clone(d);
  }
  return out;
}

/** The metadata of the delta's leaves, taken from desired's metadata. */
function deltaMetadata(delta: JsonObject, meta: JsonObject | undefined): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(delta)) {
    const m = meta?.[k];
    out[k] = isObject(v) && isObject(m) && !isLeafMeta(m) ? deltaMetadata(v, m) : (m ?? {});
  }
  return out;
}

function depth(v: Json): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depth));
  if (isObject(v)) return 1 + Math.max(0, ...Object.values(v).map(depth));
  return 0;
}

function hasNullInArray(v: Json, inArray = false): boolean {
  if (v === null) return inArray;
  if (Array.isArray(v)) return v.some((x) => hasNullInArray(x, true));
  if (isObject(v)) return Object.values(v).some((x) => hasNullInArray(x, false));
  return false;
}

/** An empty shadow at version `version`. */
export function emptyShadow(version = 0): ShadowDocument {
  return { state: {}, metadata: {}, version };
}

/** What a `/get` answers: state with delta, metadata, version, timestamp. */
export function getDocument(doc: ShadowDocument, now: number, clientToken?: string): JsonObject {
  const state: JsonObject = {};
  const metadata: JsonObject = {};
  for (const s of SECTIONS) {
    if (doc.state[s] !== undefined) state[s] = clone(doc.state[s]);
    if (doc.metadata[s] !== undefined) metadata[s] = clone(doc.metadata[s]);
  }
  const delta = computeDelta(doc.state.desired, doc.state.reported);
  if (Object.keys(delta).length > 0) state.delta = delta;
  const out: JsonObject = { state, metadata, version: doc.version, timestamp: now };
  if (clientToken !== undefined) out.clientToken = clientToken;
  return out;
}

/** The outcome of an `/update` request: the new document and what to publish, or an error. */
export type UpdateOutcome =
  { ok: true; doc: ShadowDocument; result: UpdateResult } | { ok: false; error: ShadowError };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Applies an `/update` request to `doc`, as AWS IoT does. The payload is text, or the bytes as they
 * arrived (not UTF-8: 415). `{"state": null}` clears desired and reported and keeps the shadow.
 */
export function applyUpdate(
  doc: ShadowDocument | undefined,
  payload: string | Uint8Array,
  now: number,
  limits: ShadowLimits,
): UpdateOutcome {
  let req: unknown;
  const fail = (code: number, message: string, clientToken?: string): UpdateOutcome => ({
    ok: false,
    error: { code, message, timestamp: now, ...(clientToken === undefined ? {} : { clientToken }) },
  });
  let text: string;
  try {
    text = typeof payload === "string" ? payload : utf8.decode(payload);
  } catch {
    return fail(415, "Unsupported documented encoding; supported encoding is UTF-8");
  }
  try {
    req = JSON.parse(text);
  } catch {
    return fail(400, "Invalid JSON");
  }
  if (!isObject(req)) return fail(400, "Invalid JSON");
  const token = req.clientToken;
  if (token !== undefined && (typeof token !== "string" || Buffer.byteLength(token) > 64))
    return fail(400, "Invalid clientToken");
  const clientToken = token;
  if (!("state" in req)) return fail(400, "Missing required node: state", clientToken);
  // peers.md §5.3.7: a null state keeps the shadow; both sections go, as `"desired": null` does one.
  const state = req.state === null ? { desired: null, reported: null } : req.state;
  if (!isObject(state)) return fail(400, "State node must be an object", clientToken);
  for (const s of SECTIONS) {
    const v = state[s];
    if (v !== undefined && v !== null && !isObject(v))
      return fail(400, `${s === "desired" ? "Desired" : "Reported"} node must be an object`, clientToken);
  }
  if (Object.keys(state).some((k) => k !== "desired" && k !== "reported"))
    return fail(400, "State contains an invalid node", clientToken);
  if (hasNullInArray(state)) return fail(400, "State contains an invalid node", clientToken);
  for (const s of SECTIONS) {
    const v = state[s];
    if (isObject(v) && 1 + depth(v) > limits.maxDepth)
      return fail(
        400,
        `JSON contains too many levels of nesting; maximum is ${limits.maxDepth}`,
        clientToken,
      );
  }
  const version = req.version;
  if (version !== undefined && (typeof version !== "number" || !Number.isInteger(version)))
    return fail(400, "Invalid version", clientToken);
  const current = doc ?? emptyShadow();
  if (version !== undefined && version !== current.version) return fail(409, "Version conflict", clientToken);

  const next: ShadowDocument = {
    state: { ...current.state },
    metadata: { ...current.metadata },
    version: current.version + 1,
  };
  const acceptedMeta: JsonObject = {};
  for (const s of SECTIONS) {
    const patch = state[s];
    if (patch === undefined) continue;
    if (patch === null) {
      Reflect.deleteProperty(next.state, s);
      Reflect.deleteProperty(next.metadata, s);
      acceptedMeta[s] = { timestamp: now };
      continue;
    }
    if (!isObject(patch)) continue; // checked above; narrows the type
    const merged = merge(current.state[s] ?? {}, patch);
    const meta = mergeMetadata(current.metadata[s] ?? {}, patch, now);
    setSection(next, s, merged, meta);
    acceptedMeta[s] = stamp(patch, now, true);
  }
  const size = Buffer.byteLength(
    JSON.stringify({ desired: next.state.desired, reported: next.state.reported }),
  );
  if (size > limits.maxBytes) return fail(413, "The payload exceeds the maximum size allowed", clientToken);

  const withToken = (o: JsonObject): JsonObject => (clientToken === undefined ? o : { ...o, clientToken });
  const accepted = withToken({
    state: clone(state),
    metadata: acceptedMeta,
    version: next.version,
    timestamp: now,
  });
  const documents = withToken({
    previous: {
      state: clone(current.state) as JsonObject,
      metadata: clone(current.metadata) as JsonObject,
      version: current.version,
    },
    current: {
      state: clone(next.state) as JsonObject,
      metadata: clone(next.metadata) as JsonObject,
      version: next.version,
    },
    timestamp: now,
  });
  const result: UpdateResult = { accepted, documents };
  const delta = computeDelta(next.state.desired, next.state.reported);
  // A delta goes out when this update touched desired, or changed reported away from desired.
  if (Object.keys(delta).length > 0 && (state.desired !== undefined || state.reported !== undefined)) {
    result.delta = withToken({
      state: delta,
      metadata: deltaMetadata(delta, next.metadata.desired),
      version: next.version,
      timestamp: now,
    });
  }
  return { ok: true, doc: next, result };
}

function setSection(doc: ShadowDocument, s: Section, state: JsonObject, meta: JsonObject): void {
  if (Object.keys(state).length === 0) {
    Reflect.deleteProperty(doc.state, s);
    Reflect.deleteProperty(doc.metadata, s);
  } else {
    doc.state[s] = state;
    doc.metadata[s] = meta;
  }
}
