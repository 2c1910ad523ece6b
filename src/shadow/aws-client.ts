/**
 * The CCM as a client of an AWS IoT shadow (reference mos-protocols.md §11, peers.md §5.1): the cloud
 * is the authority. Subscribes to the answers first, then asks `/get` on every connect; requests carry
 * a clientToken and wait for the accepted / rejected answer with the same token; deltas with a version
 * not newer than the last one seen are ignored (peers.md §5.3.8). The host's reports are never lost
 * to a broken link: while it is down they wait, merged, and go out on reconnect, before the `/get`
 * (mos's AWS shadow, mgos_aws_shadow.c, likewise keeps its updates until it is subscribed again).
 */
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { MqttConnection } from "../cloud/mqtt-connection.js";
import { CcmError, errorMessage, isCcmError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { rejected, type ShadowBackend, type ShadowBackendEvents } from "./backend.js";
import type { JsonObject } from "./document.js";
import { ReportQueue } from "./report-queue.js";

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
/** AWS answers more requests in flight on one connection with 429 (peers.md §5.5). */
const MAX_IN_FLIGHT = 10;
/** How long to wait before sending a report the shadow refused for now (429, 5xx) again. */
const RETRY_MS = 1000;

/** A shadow kept by AWS IoT (or anything speaking its topics, such as another CCM). */
export class AwsShadowClient extends EventEmitter<ShadowBackendEvents> implements ShadowBackend {
  readonly kind = "aws";
  private readonly o: AwsShadowOptions;
  private readonly waiters = new Map<string, Waiter>();
  /** Version of the newest delta handed on: a delta not newer than it is a duplicate. */
  private lastVersion = 0;
  /** Reports not sent yet: the link was down, or others were still on their way. */
  private readonly queue = new ReportQueue();
  private sending = false;
  private stopped = true;
  private readonly onMessage = (topic: string, payload: Buffer): void => {
    this.handle(topic, payload.toString("utf8"));
  };
  private readonly onUp = (): void => {
    void this.sendQueued().then(() => {
      this.afterUp();
    });
  };
  private readonly onDown = (): void => {
    for (const [token, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new CcmError("LINK_DOWN", "the shadow's broker connection was lost"));
      this.waiters.delete(token);
    }
  };

  constructor(o: AwsShadowOptions) {
    super();
    this.o = o;
  }

  /** After a connect and the queued reports: the whole document, and its delta to the host. */
  private afterUp(): void {
    this.get().then(
      (doc) => {
        const delta = (doc.state as { delta?: JsonObject } | undefined)?.delta;
        if (delta !== undefined) this.onDelta(delta, typeof doc.version === "number" ? doc.version : 0);
      },
      (e: unknown) => {
        this.o.logger.warn(`shadow get on connect: ${(e as Error).message}`);
      },
    );
  }

  start(): void {
    this.stopped = false;
    for (const a of ANSWERS) void this.o.mqtt.subscribe(`${this.o.prefix}/${a}`, 1);
    this.o.mqtt.on("message", this.onMessage);
    this.o.mqtt.on("up", this.onUp);
    this.o.mqtt.on("down", this.onDown);
  }

  stop(): void {
    this.stopped = true;
    this.o.mqtt.off("message", this.onMessage);
    this.o.mqtt.off("up", this.onUp);
    this.o.mqtt.off("down", this.onDown);
    if (this.queue.length > 0)
      this.o.logger.warn(`shadow stopped with ${this.queue.length} report(s) unsent`);
    for (const [token, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new CcmError("LINK_DOWN", "shadow stopped"));
      this.waiters.delete(token);
    }
  }

  /**
   * Sends the host's reported state, or keeps it (merged with any other waiting) while the link is
   * down or earlier reports are still going out; resolves `{queued: true}` then.
   */
  async report(reported: JsonObject): Promise<JsonObject> {
    const busy = this.sending || this.queue.length > 0 || this.waiters.size >= MAX_IN_FLIGHT;
    if (this.o.mqtt.connected && !busy) {
      try {
        return await this.request("update", { state: { reported } });
      } catch (e) {
        if (!isCcmError(e, "LINK_DOWN") && !isCcmError(e, "RPC_TIMEOUT") && !tryAgain(e)) throw e;
      }
    }
    this.queue.add(reported);
    void this.sendQueued();
    return { queued: true };
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

  /** Sends the waiting reports one after another, oldest first, while the link is up. */
  private async sendQueued(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      for (let next = this.queue.take(); next !== undefined; next = this.queue.take()) {
        if (this.stopped || !this.o.mqtt.connected) {
          this.queue.putBack(next);
          return;
        }
        try {
          await this.request("update", { state: { reported: next } });
        } catch (e) {
          if (isCcmError(e, "SHADOW_REJECTED") && !tryAgain(e)) {
            this.o.logger.warn(`a queued shadow report was refused, dropped: ${errorMessage(e)}`);
            continue;
          }
          this.queue.putBack(next);
          if (tryAgain(e)) await new Promise((r) => setTimeout(r, RETRY_MS));
        }
      }
    } finally {
      this.sending = false;
    }
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

/** A refusal that may pass later: 429 (too many in flight) or a 5xx of the service. */
function tryAgain(e: unknown): boolean {
  return isCcmError(e, "SHADOW_REJECTED") && (e.rpcCode === 429 || e.rpcCode >= 500);
}
