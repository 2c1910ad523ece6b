/**
 * The CCM as a client of an AWS IoT shadow (reference mos-protocols.md §11, peers.md §5.1): the cloud
 * is the authority. Subscribes to the answers first, then asks `/get` on every connect; requests carry
 * a clientToken and wait for the accepted / rejected answer with the same token; deltas with a version
 * not newer than the last one seen are ignored (peers.md §5.3.8).
 */
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { MqttConnection } from "../cloud/mqtt-connection.js";
import { CcmError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { rejected, type ShadowBackend, type ShadowBackendEvents } from "./backend.js";
import type { JsonObject } from "./document.js";

export interface AwsShadowOptions {
  mqtt: MqttConnection;
  prefix: string;
  logger: Logger;
  /** How long to wait for the cloud's answer: 10 s. */
  timeoutMs?: number;
}

interface Waiter {
  resolve: (doc: JsonObject) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const ANSWERS = ["get/accepted", "get/rejected", "update/accepted", "update/rejected", "update/delta"];

/** A shadow kept by AWS IoT (or anything speaking its topics, such as another CCM). */
export class AwsShadowClient extends EventEmitter<ShadowBackendEvents> implements ShadowBackend {
  readonly kind = "aws";
  private readonly o: AwsShadowOptions;
  private readonly waiters = new Map<string, Waiter>();
  /** Version of the newest delta handed on: a delta not newer than it is a duplicate. */
  private lastVersion = 0;
  private readonly onMessage = (topic: string, payload: Buffer): void => {
    this.handle(topic, payload.toString("utf8"));
  };
  private readonly onUp = (): void => {
    this.get().then(
      (doc) => {
        const delta = (doc.state as { delta?: JsonObject } | undefined)?.delta;
        if (delta !== undefined) this.onDelta(delta, typeof doc.version === "number" ? doc.version : 0);
      },
      (e: unknown) => {
        this.o.logger.warn(`shadow get on connect: ${(e as Error).message}`);
      },
    );
  };

  constructor(o: AwsShadowOptions) {
    super();
    this.o = o;
  }

  start(): void {
    for (const a of ANSWERS) void this.o.mqtt.subscribe(`${this.o.prefix}/${a}`, 1);
    this.o.mqtt.on("message", this.onMessage);
    this.o.mqtt.on("up", this.onUp);
  }

  stop(): void {
    this.o.mqtt.off("message", this.onMessage);
    this.o.mqtt.off("up", this.onUp);
    for (const [token, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new CcmError("LINK_DOWN", "shadow stopped"));
      this.waiters.delete(token);
    }
  }

  update(request: JsonObject): Promise<JsonObject> {
    return this.request("update", request);
  }

  get(): Promise<JsonObject> {
    return this.request("get", {});
  }

  async pendingDelta(): Promise<JsonObject | undefined> {
    const doc = await this.get();
    return (doc.state as { delta?: JsonObject } | undefined)?.delta;
  }

  private request(op: "update" | "get", body: JsonObject): Promise<JsonObject> {
    if (!this.o.mqtt.connected)
      return Promise.reject(new CcmError("LINK_DOWN", "the shadow's broker is not connected"));
    const clientToken = randomBytes(8).toString("hex");
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(clientToken);
        reject(
          new CcmError("RPC_TIMEOUT", `no answer to shadow ${op} within ${this.o.timeoutMs ?? 10_000} ms`),
        );
      }, this.o.timeoutMs ?? 10_000);
      this.waiters.set(clientToken, { resolve, reject, timer });
      this.o.mqtt.publish(`${this.o.prefix}/${op}`, JSON.stringify({ ...body, clientToken }), 1);
    });
  }

  private handle(topic: string, text: string): void {
    if (!topic.startsWith(`${this.o.prefix}/`)) return;
    const answer = topic.slice(this.o.prefix.length + 1);
    if (!ANSWERS.includes(answer)) return;
    let doc: JsonObject;
    try {
      doc = JSON.parse(text) as JsonObject;
    } catch {
      this.o.logger.warn(`${topic}: not JSON`);
      return;
    }
    const version = typeof doc.version === "number" ? doc.version : 0;
    if (answer === "update/delta") {
      this.onDelta(doc.state as JsonObject, version);
      return;
    }
    const token = typeof doc.clientToken === "string" ? doc.clientToken : undefined;
    const w = token === undefined ? undefined : this.waiters.get(token);
    if (w === undefined || token === undefined) return;
    this.waiters.delete(token);
    clearTimeout(w.timer);
    if (answer.endsWith("/rejected"))
      w.reject(
        rejected({
          code: typeof doc.code === "number" ? doc.code : 400,
          message: typeof doc.message === "string" ? doc.message : "rejected",
        }),
      );
    else w.resolve(doc);
  }

  private onDelta(state: JsonObject, version: number): void {
    if (version <= this.lastVersion) return;
    this.lastVersion = version;
    this.emit("delta", state, version);
  }
}
