/**
 * The CCM as its own shadow authority (DESIGN: private broker). It keeps the document in the data
 * dir and, when an MQTT connection is given, speaks AWS IoT's shadow topics on it (reference
 * peers.md §5.1): requests on `<prefix>/update|get|delete`, answers on `…/accepted|rejected`,
 * `update/delta` and `update/documents`. So any AWS-shadow client works against Mosquitto.
 * More than `maxInFlight` requests waiting for their answer are refused with 429, as AWS does.
 */
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { MqttConnection } from "../cloud/mqtt-connection.js";
import type { Logger } from "../log/logger.js";
import { atomicWriteFileSync } from "../util/atomic-file.js";
import { rejected, type ShadowBackend, type ShadowBackendEvents } from "./backend.js";
import {
  applyUpdate,
  computeDelta,
  getDocument,
  type JsonObject,
  type ShadowDocument,
  type ShadowLimits,
} from "./document.js";

export interface PrivateShadowOptions {
  dataDir: string;
  /** `$aws/things/<thing>/shadow`. */
  prefix: string;
  limits: ShadowLimits;
  mqtt?: MqttConnection | undefined;
  logger: Logger;
  /** Epoch seconds now. */
  now?: () => number;
  /** Requests over MQTT that may wait for their answer at once; one more gets 429. AWS: 10. */
  maxInFlight?: number;
}

/** AWS's limit on requests in flight (peers.md §5.5). */
const MAX_IN_FLIGHT = 10;
/** A shadow deleted longer ago than this starts again at version 0 (peers.md §5.3.7). */
const VERSION_KEPT_S = 48 * 3600;
const SUFFIXES = ["update", "get", "delete"] as const;

type UpdateAnswer =
  { ok: true; accepted: JsonObject } | { ok: false; error: { code: number; message: string } };

/** An answer waiting for the group commit: `fail` (if any) is used when the save failed. */
interface Pending {
  ok: () => void;
  fail?: (message: string) => void;
  /** A request that came over MQTT: it counts against maxInFlight until answered. */
  remote?: boolean;
}

interface Stored {
  doc: ShadowDocument | null;
  /** Kept after a delete: a shadow recreated within 48 h continues the version (AWS). */
  version: number;
  /** When the shadow was deleted (epoch seconds), while it is. */
  deletedAt?: number;
}

/** The CCM's own shadow authority. */
export class PrivateShadow extends EventEmitter<ShadowBackendEvents> implements ShadowBackend {
  readonly kind = "private";
  private stored: Stored;
  /** What is on disk: `stored` goes back to it when a save fails. */
  private committed: Stored;
  private dirty = false;
  private flushing = false;
  private answers: Pending[] = [];
  /** MQTT requests not answered yet. */
  private inFlight = 0;
  private readonly o: PrivateShadowOptions;
  private readonly file: string;
  private readonly now: () => number;
  private readonly onMessage = (topic: string, payload: Buffer): void => {
    this.handle(topic, payload);
  };

  constructor(o: PrivateShadowOptions) {
    super();
    this.o = o;
    this.now = o.now ?? (() => Math.floor(Date.now() / 1000));
    this.file = join(o.dataDir, "shadow.json");
    this.stored = this.load();
    this.committed = this.stored;
  }

  start(): void {
    const mqtt = this.o.mqtt;
    if (mqtt === undefined) return;
    for (const op of SUFFIXES) void mqtt.subscribe(`${this.o.prefix}/${op}`, 1);
    mqtt.on("message", this.onMessage);
  }

  stop(): void {
    this.o.mqtt?.off("message", this.onMessage);
  }

  update(request: JsonObject): Promise<JsonObject> {
    return new Promise((resolve, reject) => {
      this.applyAndPublish(JSON.stringify(request), (r) => {
        if (r.ok) resolve(r.accepted);
        else reject(rejected(r.error));
      });
    });
  }

  get(): Promise<JsonObject> {
    const doc = this.stored.doc;
    if (doc === null) return Promise.reject(rejected(this.notFound()));
    return Promise.resolve(getDocument(doc, this.now()));
  }

  pendingDelta(): Promise<JsonObject | undefined> {
    const doc = this.stored.doc;
    if (doc === null) return Promise.resolve(undefined);
    const delta = computeDelta(doc.state.desired, doc.state.reported);
    return Promise.resolve(Object.keys(delta).length === 0 ? undefined : delta);
  }

  /** Serves a request that arrived on one of the shadow topics, unless too many are waiting (429). */
  private handle(topic: string, payload: Buffer): void {
    const prefix = this.o.prefix;
    const op = SUFFIXES.find((o) => topic === `${prefix}/${o}`);
    if (op === undefined) return;
    if (this.inFlight >= (this.o.maxInFlight ?? MAX_IN_FLIGHT)) {
      // AWS documents the condition, not a message text: the status's own name is used.
      const error = { code: 429, message: "Too Many Requests", timestamp: this.now() };
      this.publish(`${op}/rejected`, { ...error, ...clientTokenOf(payload) });
      return;
    }
    this.inFlight++;
    if (op === "update") this.applyAndPublish(payload, undefined, true);
    else if (op === "get") this.answerGet(payload);
    else this.delete(payload);
  }

  /**
   * Applies an update in memory; its answers go out after the next group commit (every update that
   * arrived in the same turn of the event loop is saved with one fsynced write, then answered).
   */
  private applyAndPublish(payload: string | Buffer, done?: (r: UpdateAnswer) => void, remote = false): void {
    const now = this.now();
    const r = applyUpdate(this.current(now), payload, now, this.o.limits);
    if (!r.ok) {
      this.later({
        remote,
        ok: () => {
          this.publish("update/rejected", r.error);
          done?.(r);
        },
      });
      return;
    }
    this.stored = { doc: r.doc, version: r.doc.version };
    this.dirty = true;
    this.later({
      remote,
      ok: () => {
        this.publish("update/accepted", r.result.accepted);
        this.publish("update/documents", r.result.documents);
        if (r.result.delta !== undefined) {
          this.publish("update/delta", r.result.delta);
          const state = r.result.delta.state as JsonObject;
          this.emit("delta", state, r.doc.version);
        }
        done?.({ ok: true, accepted: r.result.accepted });
      },
      fail: (message) => {
        const error = { code: 500, message, timestamp: now };
        this.publish("update/rejected", error);
        done?.({ ok: false, error });
      },
    });
  }

  /** The shadow an update applies to: the stored one, or an empty one continuing a deleted one's version. */
  private current(now: number): ShadowDocument | undefined {
    const { doc, version, deletedAt } = this.stored;
    if (doc !== null) return doc;
    if (version === 0 || (deletedAt !== undefined && now - deletedAt > VERSION_KEPT_S)) return undefined;
    return { state: {}, metadata: {}, version };
  }

  /** Queues an answer for after the next save; schedules that save. */
  private later(answer: Pending): void {
    this.answers.push(answer);
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => {
      this.flush();
    });
  }

  /** The group commit: one save for every change made since the last one, then the answers. */
  private flush(): void {
    this.flushing = false;
    const answers = this.answers;
    this.answers = [];
    let failure: string | undefined;
    if (this.dirty) {
      this.dirty = false;
      try {
        this.save();
        this.committed = this.stored;
      } catch (e) {
        failure = `the shadow could not be saved: ${(e as Error).message}`;
        this.o.logger.error(failure);
        this.stored = this.committed;
      }
    }
    for (const a of answers) {
      if (a.remote === true) this.inFlight--;
      if (failure !== undefined && a.fail !== undefined) a.fail(failure);
      else a.ok();
    }
  }

  private answerGet(payload: Buffer): void {
    const token = clientTokenOf(payload);
    const doc = this.stored.doc;
    // Answered in turn with the updates before it, once they are saved.
    const answer =
      doc === null
        ? () => {
            this.publish("get/rejected", { ...this.notFound(), ...token });
          }
        : (() => {
            const d = getDocument(doc, this.now(), token.clientToken);
            return () => {
              this.publish("get/accepted", d);
            };
          })();
    this.later({ ok: answer, remote: true });
  }

  private delete(payload: Buffer): void {
    const token = clientTokenOf(payload);
    if (this.stored.doc === null) {
      const error = { ...this.notFound(), ...token };
      this.later({
        remote: true,
        ok: () => {
          this.publish("delete/rejected", error);
        },
      });
      return;
    }
    const version = this.stored.doc.version;
    const timestamp = this.now();
    this.stored = { doc: null, version, deletedAt: timestamp };
    this.dirty = true;
    this.later({
      remote: true,
      ok: () => {
        this.publish("delete/accepted", { version, timestamp, ...token });
      },
      fail: (message) => {
        this.publish("delete/rejected", { code: 500, message, timestamp, ...token });
      },
    });
  }

  private notFound(): { code: number; message: string; timestamp: number } {
    // A named shadow (`…/shadow/name/<name>`) is called by its name, the classic one by its thing's.
    const p = this.o.prefix;
    const name = /\/shadow\/name\/([^/]+)$/.exec(p)?.[1] ?? /things\/([^/]+)\/shadow/.exec(p)?.[1] ?? p;
    return { code: 404, message: `No shadow exists with name: '${name}'`, timestamp: this.now() };
  }

  private publish(suffix: string, doc: object): void {
    const mqtt = this.o.mqtt;
    if (mqtt?.connected !== true) return;
    mqtt.publish(`${this.o.prefix}/${suffix}`, JSON.stringify(doc), 1);
  }

  private load(): Stored {
    try {
      const s = JSON.parse(readFileSync(this.file, "utf8")) as Partial<Stored>;
      if (typeof s.version === "number")
        return {
          doc: s.doc ?? null,
          version: s.version,
          ...(typeof s.deletedAt === "number" ? { deletedAt: s.deletedAt } : {}),
        };
      this.o.logger.warn(`${this.file}: not a shadow; starting empty`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT")
        this.o.logger.warn(`${this.file} cannot be read (${(e as Error).message}); starting empty`);
    }
    return { doc: null, version: 0 };
  }

  private save(): void {
    atomicWriteFileSync(this.file, JSON.stringify(this.stored));
  }
}

function clientTokenOf(payload: Buffer): { clientToken?: string } {
  try {
    const t = (JSON.parse(payload.toString("utf8")) as { clientToken?: unknown }).clientToken;
    return typeof t === "string" ? { clientToken: t } : {};
  } catch {
    return {};
  }
}
