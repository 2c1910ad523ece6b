/**
 * The shadow kept by Azure IoT Hub as a device twin (reference peers.md §6.2–6.5, mos-protocols.md
 * §11): `$iothub/twin/GET` with a `$rid`, reported patches on `…/PATCH/properties/reported/`, desired
 * patches pushed on `…/PATCH/properties/desired/?$version=v`. Azure sends desired patches, not
 * deltas: the delta for the host is computed here against the reported state, as AWS would. After
 * every connect the twin is fetched whole and patches not newer than it are ignored (the hub keeps
 * no notifications for a disconnected device).
 */
import { EventEmitter } from "node:events";
import type { MqttConnection } from "../cloud/mqtt-connection.js";
import { CcmError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { rejected, type ShadowBackend, type ShadowBackendEvents } from "./backend.js";
import { computeDelta, type JsonObject } from "./document.js";

export const TWIN_RES = "$iothub/twin/res/";
export const TWIN_DESIRED = "$iothub/twin/PATCH/properties/desired/";

export interface AzureTwinOptions {
  mqtt: MqttConnection;
  logger: Logger;
  /** How long to wait for the hub's answer: 10 s. */
  timeoutMs?: number;
}

interface Waiter {
  resolve: (r: { status: number; version: number | undefined; body: string }) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A twin section without the hub's `$version` / `$metadata` keys. */
export function stripTwinMeta(section: unknown): JsonObject {
  if (!isObject(section)) return {};
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(section)) if (!k.startsWith("$")) out[k] = v;
  return out;
}

/** Merges a twin patch into `target`: objects merge, null deletes, anything else replaces. */
export function mergePatch(target: JsonObject, patch: JsonObject): JsonObject {
  const out: JsonObject = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$")) continue;
    if (v === null) Reflect.deleteProperty(out, k);
    else if (isObject(v)) out[k] = mergePatch(isObject(out[k]) ? out[k] : {}, v);
    else out[k] = v;
  }
  return out;
}

function withoutNulls(patch: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith("$")) continue;
    out[k] = isObject(v) ? withoutNulls(v) : v;
  }
  return out;
}

/** `?$rid=7&$version=3` → Map. */
export function topicProperties(topic: string): Map<string, string> {
  const q = topic.indexOf("?");
  return new Map(q < 0 ? [] : new URLSearchParams(topic.slice(q + 1)));
}

/** A shadow kept by an Azure IoT Hub device twin. */
export class AzureTwin extends EventEmitter<ShadowBackendEvents> implements ShadowBackend {
  readonly kind = "azure";
  private readonly o: AzureTwinOptions;
  private readonly waiters = new Map<string, Waiter>();
  private nextRid = 1;
  private desired: JsonObject = {};
  private reported: JsonObject = {};
  private desiredVersion = 0;
  private reportedVersion = 0;
  /** No desired patch is applied before the twin was fetched after connecting. */
  private synced = false;
  private readonly onMessage = (topic: string, payload: Buffer): void => {
    this.handle(topic, payload.toString("utf8"));
  };
  private readonly onUp = (): void => {
    this.synced = false;
    this.fetch().then(
      () => {
        const delta = computeDelta(this.desired, this.reported);
        if (Object.keys(delta).length > 0) this.emit("delta", delta, this.desiredVersion);
      },
      (e: unknown) => {
        this.o.logger.warn(`twin GET on connect: ${(e as Error).message}`);
      },
    );
  };

  constructor(o: AzureTwinOptions) {
    super();
    this.o = o;
  }

  start(): void {
    void this.o.mqtt.subscribe(`${TWIN_RES}#`, 1);
    void this.o.mqtt.subscribe(`${TWIN_DESIRED}#`, 1);
    this.o.mqtt.on("message", this.onMessage);
    this.o.mqtt.on("up", this.onUp);
  }

  stop(): void {
    this.o.mqtt.off("message", this.onMessage);
    this.o.mqtt.off("up", this.onUp);
    for (const [rid, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new CcmError("LINK_DOWN", "shadow stopped"));
      this.waiters.delete(rid);
    }
  }

  /**
   * Patches the reported properties (a device cannot set desired ones: 400). `state.reported: null`
   * deletes every reported key. Resolves with the accepted patch and the new reported `$version`.
   */
  async update(request: JsonObject): Promise<JsonObject> {
    const state = request.state;
    if (!isObject(state)) throw rejected({ code: 400, message: "state is missing" });
    if (state.desired !== undefined)
      throw rejected({
        code: 400,
        message: "Azure IoT Hub: desired properties are set by the solution back end, not the device",
      });
    let patch: JsonObject;
    if (state.reported === null) patch = Object.fromEntries(Object.keys(this.reported).map((k) => [k, null]));
    else if (isObject(state.reported)) patch = state.reported;
    else throw rejected({ code: 400, message: "state.reported must be an object or null" });
    const r = await this.request(`$iothub/twin/PATCH/properties/reported/`, JSON.stringify(patch));
    if (r.status !== 204 && r.status !== 200) throw this.refusal("reported patch", r);
    this.reported = mergePatch(this.reported, patch);
    if (r.version !== undefined) this.reportedVersion = r.version;
    return {
      state: { reported: patch },
      version: this.reportedVersion,
      timestamp: Math.floor(Date.now() / 1000),
    };
  }

  /** The twin in the shadow's shape: state (desired, reported, delta) and versions. */
  async get(): Promise<JsonObject> {
    await this.fetch();
    const delta = computeDelta(this.desired, this.reported);
    return {
      state: {
        desired: this.desired,
        reported: this.reported,
        ...(Object.keys(delta).length > 0 ? { delta } : {}),
      },
      version: this.desiredVersion,
      reported_version: this.reportedVersion,
      timestamp: Math.floor(Date.now() / 1000),
    };
  }

  async pendingDelta(): Promise<JsonObject | undefined> {
    await this.fetch();
    const delta = computeDelta(this.desired, this.reported);
    return Object.keys(delta).length > 0 ? delta : undefined;
  }

  private async fetch(): Promise<void> {
    const r = await this.request("$iothub/twin/GET/", "");
    if (r.status !== 200) throw this.refusal("twin GET", r);
    let twin: unknown;
    try {
      twin = JSON.parse(r.body);
    } catch {
      throw rejected({ code: 500, message: "twin GET: the hub's answer is not JSON" });
    }
    if (!isObject(twin))
      throw rejected({ code: 500, message: "twin GET: the hub's answer is not an object" });
    const d = isObject(twin.desired) ? twin.desired : {};
    const rep = isObject(twin.reported) ? twin.reported : {};
    this.desired = stripTwinMeta(d);
    this.reported = stripTwinMeta(rep);
    this.desiredVersion = typeof d.$version === "number" ? d.$version : 0;
    this.reportedVersion = typeof rep.$version === "number" ? rep.$version : 0;
    this.synced = true;
  }

  private refusal(what: string, r: { status: number; body: string }): CcmError {
    let message = r.body.trim();
    try {
      const body = JSON.parse(r.body) as unknown;
      if (isObject(body) && typeof body.message === "string") message = body.message;
      else if (isObject(body) && typeof body.Message === "string") message = body.Message;
    } catch {
      // the body as it came
    }
    return rejected({
      code: r.status,
      message: `${what}: ${message === "" ? `status ${r.status}` : message}`,
    });
  }

  private request(
    topicPrefix: string,
    body: string,
  ): Promise<{ status: number; version: number | undefined; body: string }> {
    if (!this.o.mqtt.connected)
      return Promise.reject(new CcmError("LINK_DOWN", "the IoT hub is not connected"));
    const rid = String(this.nextRid++);
    const timeoutMs = this.o.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(rid);
        reject(new CcmError("RPC_TIMEOUT", `no answer from the IoT hub within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(rid, { resolve, reject, timer });
      this.o.mqtt.publish(`${topicPrefix}?$rid=${rid}`, body, 0);
    });
  }

  private handle(topic: string, text: string): void {
    if (topic.startsWith(TWIN_RES)) {
      const status = Number.parseInt(topic.slice(TWIN_RES.length), 10);
      const props = topicProperties(topic);
      const rid = props.get("$rid");
      const w = rid === undefined ? undefined : this.waiters.get(rid);
      if (w === undefined || rid === undefined) return;
      this.waiters.delete(rid);
      clearTimeout(w.timer);
      const v = props.get("$version");
      w.resolve({ status, version: v === undefined ? undefined : Number(v), body: text });
      return;
    }
    if (!topic.startsWith(TWIN_DESIRED)) return;
    let patch: unknown;
    try {
      patch = JSON.parse(text);
    } catch {
      this.o.logger.warn(`${topic}: not JSON`);
      return;
    }
    if (!isObject(patch)) return;
    const fromTopic = topicProperties(topic).get("$version");
    const version =
      typeof patch.$version === "number" ? patch.$version : fromTopic === undefined ? 0 : Number(fromTopic);
    // Before the twin is fetched, or not newer than it: the GET already holds it (peers.md §6.2).
    if (!this.synced || version <= this.desiredVersion) return;
    this.desiredVersion = version;
    this.desired = mergePatch(this.desired, patch);
    const delta = computeDelta(withoutNulls(patch), this.reported);
    if (Object.keys(delta).length > 0) this.emit("delta", delta, version);
  }
}
