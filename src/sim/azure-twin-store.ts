/**
 * The device twins of the local IoT Hub (src/sim/azure-iot-hub.ts), as reference peers.md §6.3
 * describes them: desired and reported sections with a `$version` each, `$metadata.$lastUpdated` at
 * every level, null deletes, and the key, depth (10) and size (32 KB) rules. No MQTT here: the hub
 * turns these answers into topics.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

interface Twin {
  desired: JsonObject;
  reported: JsonObject;
  desiredVersion: number;
  reportedVersion: number;
  desiredMeta: JsonObject;
  reportedMeta: JsonObject;
}

/** What a reported PATCH is answered with: 204 and the new `$version`, or 400 and why. */
export type PatchAnswer =
  { status: 204; version: number } | { status: 400; body: { errorCode: number; message: string } };

const MAX_DEPTH = 10;
const MAX_SECTION_BYTES = 32 * 1024;

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Why a twin patch is refused (peers.md §6.3), or undefined. */
export function twinPatchProblem(patch: unknown, depth = 1): string | undefined {
  if (!isObject(patch)) return "the patch must be a JSON object";
  if (depth > MAX_DEPTH) return `nesting deeper than ${MAX_DEPTH} levels`;
  for (const [k, v] of Object.entries(patch)) {
    if (depth === 1 && k === "$version") continue;
    if (k === "" || Buffer.byteLength(k) > 1024)
      return `key "${k.slice(0, 40)}" is empty or longer than 1 KB`;
    // eslint-disable-next-line no-control-regex
    if (/[.$ \u0000-\u001f]/.test(k)) return `key "${k}" contains '.', '$', a space or a control character`;
    if (typeof v === "string" && Buffer.byteLength(v) > 4096) return `value of "${k}" is longer than 4 KB`;
    if (typeof v === "number" && Number.isInteger(v) && Math.abs(v) > 4503599627370495)
      return `integer "${k}" is out of range`;
    if (isObject(v)) {
      const inner = twinPatchProblem(v, depth + 1);
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}

/** The size IoT Hub counts: keys and string values by length, numbers 8 bytes, booleans 4. */
export function twinSize(v: Json): number {
  if (v === null) return 4;
  if (typeof v === "boolean") return 4;
  if (typeof v === "number") return 8;
  if (typeof v === "string") return Buffer.byteLength(v);
  if (Array.isArray(v)) return v.reduce<number>((n, x) => n + twinSize(x), 0);
  let n = 0;
  for (const [k, x] of Object.entries(v)) if (!k.startsWith("$")) n += Buffer.byteLength(k) + twinSize(x);
  return n;
}

function merge(target: JsonObject, meta: JsonObject, patch: JsonObject, now: string): void {
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$")) continue;
    if (v === null) {
      Reflect.deleteProperty(target, k);
      Reflect.deleteProperty(meta, k);
    } else if (isObject(v)) {
      if (!isObject(target[k])) target[k] = {};
      if (!isObject(meta[k])) meta[k] = {};
      merge(target[k], meta[k], v, now);
      meta[k].$lastUpdated = now;
    } else {
      target[k] = v;
      meta[k] = { $lastUpdated: now };
    }
  }
  meta.$lastUpdated = now;
}

/** The twins of the registered devices, made on first use. */
export class TwinStore {
  private readonly twins = new Map<string, Twin>();
  private readonly registered: (deviceId: string) => boolean;

  constructor(registered: (deviceId: string) => boolean) {
    this.registered = registered;
  }

  /** The device's twin as the service side sees it (with `$version` and `$metadata`). */
  serviceView(deviceId: string): { properties: { desired: JsonObject; reported: JsonObject } } {
    const t = this.twin(deviceId);
    return {
      properties: {
        desired: { ...t.desired, $metadata: t.desiredMeta, $version: t.desiredVersion },
        reported: { ...t.reported, $metadata: t.reportedMeta, $version: t.reportedVersion },
      },
    };
  }

  /** The body of the device's twin GET: both sections with their `$version`. */
  deviceView(deviceId: string): JsonObject {
    const t = this.twin(deviceId);
    return {
      desired: { ...t.desired, $version: t.desiredVersion },
      reported: { ...t.reported, $version: t.reportedVersion },
    };
  }

  /** Applies a back-end desired patch; its new `$version`. Throws `400: why` for a bad patch. */
  patchDesired(deviceId: string, patch: JsonObject): number {
    const problem = twinPatchProblem(patch);
    if (problem !== undefined) throw new Error(`400: ${problem}`);
    const t = this.twin(deviceId);
    const next = structuredClone(t.desired);
    const meta = structuredClone(t.desiredMeta);
    merge(next, meta, patch, new Date().toISOString());
    if (twinSize(next) > MAX_SECTION_BYTES) throw new Error("400: desired properties exceed 32 KB");
    t.desired = next;
    t.desiredMeta = meta;
    return ++t.desiredVersion;
  }

  /** Applies a device's reported PATCH (its body as sent). */
  patchReported(deviceId: string, body: string): PatchAnswer {
    const refuse = (message: string): PatchAnswer => ({ status: 400, body: { errorCode: 400004, message } });
    let patch: unknown;
    try {
      patch = JSON.parse(body);
    } catch {
      return refuse("the patch is not JSON");
    }
    const problem = twinPatchProblem(patch);
    if (problem !== undefined) return refuse(problem);
    const t = this.twin(deviceId);
    const next = structuredClone(t.reported);
    const meta = structuredClone(t.reportedMeta);
    merge(next, meta, patch as JsonObject, new Date().toISOString());
    if (twinSize(next) > MAX_SECTION_BYTES) return refuse("reported properties exceed 32 KB");
    t.reported = next;
    t.reportedMeta = meta;
    return { status: 204, version: ++t.reportedVersion };
  }

  private twin(deviceId: string): Twin {
    let t = this.twins.get(deviceId);
    if (t === undefined) {
      if (!this.registered(deviceId)) throw new Error(`404: device ${deviceId} is not registered`);
      t = {
        desired: {},
        reported: {},
        desiredVersion: 1,
        reportedVersion: 1,
        desiredMeta: {},
        reportedMeta: {},
      };
      this.twins.set(deviceId, t);
    }
    return t;
  }
}
