/**
 * The host's MQTT services (CCM doc §8): `MQTT.Pub`, `MQTT.Sub` → `MQTT.Message` notifications,
 * `MQTT.Unsub`. Every QoS 1 publish is on disk (the outbox) before the host hears it was accepted,
 * and stays there until the broker's PUBACK: it leaves in order, now or after a reconnect or a
 * restart (at least once). QoS 0 is best effort and never blocks the host. The host's
 * subscriptions are kept in the data dir, so they survive reconnects and restarts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Type from "typebox";
import { CcmError, errorMessage } from "../errors.js";
import type { Logger } from "../log/logger.js";
import type { MethodRegistry } from "../rpc/registry.js";
import { atomicWriteFileSync } from "../util/atomic-file.js";
import { DropReport } from "../util/drop-report.js";
import type { MqttConnection } from "./mqtt-connection.js";
import { Outbox } from "./outbox.js";
import { checkTopicFilter, checkTopicName, topicMatches } from "./topic.js";

/** Where messages for the host go (a bounded queue in front of the host link). */
export interface HostSink {
  deliver(method: string, params: unknown): void;
}

export interface MqttBridgeOptions {
  connection: MqttConnection;
  registry: MethodRegistry;
  host: HostSink;
  dataDir: string;
  /** Largest message the host may publish, in bytes. */
  maxMessage: number;
  /** Most QoS 1 messages kept on disk while the broker is away. */
  queueMax: number;
  logger: Logger;
  /**
   * Throws a CcmError for a topic the cloud would refuse (Azure IoT Hub closes the connection on a
   * publish outside `devices/{id}/messages/events/`): refused before it reaches the cloud.
   */
  checkTopic?: (topic: string, op: "publish" | "subscribe") => void;
}

/** Counters shown in Sys.GetInfo. */
export interface MqttBridgeStats {
  /** QoS 0 handed to the connection, and QoS 1 acknowledged by the broker. */
  published: number;
  /** QoS 1 accepted while the broker was away. */
  queued: number;
  /** QoS 1 dropped from a full outbox, oldest first. */
  dropped_oldest: number;
  /** QoS 0 dropped while the broker was away. */
  dropped_qos0: number;
  /** QoS 1 the broker refused (an MQTT 5 PUBACK with an error reason code): not retried. */
  refused: number;
  received: number;
}

/** What MQTT.Pub answers: where the message is, and how many older ones a full outbox dropped for it. */
export interface PubResult {
  status: "sent" | "queued" | "dropped";
  dropped?: number;
}

/** How long stop() waits for PUBACKs of messages in flight. */
const STOP_GRACE_MS = 3000;

const PubParams = Type.Object({
  topic: Type.String(),
  message: Type.Unknown(),
  qos: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1)])),
  retain: Type.Optional(Type.Boolean()),
});
const SubParams = Type.Object({
  topic: Type.String(),
  qos: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1)])),
});

/** Bridges the host's MQTT.* calls to the MQTT connection. */
export class MqttBridge {
  readonly stats: MqttBridgeStats = {
    published: 0,
    queued: 0,
    dropped_oldest: 0,
    dropped_qos0: 0,
    refused: 0,
    received: 0,
  };
  readonly outbox: Outbox;
  private readonly o: MqttBridgeOptions;
  private readonly subs = new Map<string, 0 | 1>();
  private readonly subsFile: string;
  private readonly drops: DropReport;
  /** QoS 1 messages handed to the connection whose PUBACK has not come. */
  private inFlight = 0;
  private settled: (() => void) | undefined;

  constructor(o: MqttBridgeOptions) {
    this.o = o;
    this.outbox = new Outbox(join(o.dataDir, "mqtt-outbox.jsonl"), o.queueMax, (error) => {
      if (error === undefined) this.pump();
      else o.logger.warn(`QoS 1 messages refused: ${error.message}`);
    });
    this.drops = new DropReport(
      o.logger,
      (n) => `outbox full (${o.queueMax}): dropped the ${n} oldest message(s)`,
    );
    this.drops.add(this.outbox.dropped);
    this.stats.dropped_oldest = this.drops.total;
    if (this.outbox.skipped > 0) o.logger.warn(`outbox: ${this.outbox.skipped} torn entries skipped`);
    if (this.outbox.size > 0) o.logger.info(`outbox: ${this.outbox.size} messages wait for the broker`);
    this.subsFile = join(o.dataDir, "mqtt-subscriptions.json");
    for (const [topic, qos] of Object.entries(readSubs(this.subsFile))) {
      this.subs.set(topic, qos);
      void o.connection.subscribe(topic, qos);
    }
    o.connection.on("up", () => {
      this.pump();
    });
    o.connection.on("message", (topic, payload) => {
      for (const filter of this.subs.keys()) {
        if (!topicMatches(filter, topic)) continue;
        this.stats.received++;
        o.host.deliver("MQTT.Message", { topic, message: payload.toString("utf8") });
        return;
      }
    });
    this.register(o.registry);
  }

  /**
   * Publishes for the host. QoS 0: now, or nowhere while the broker is away. QoS 1: on disk first,
   * then to the broker now ("sent") or after it is back ("queued"); it stays on disk until its
   * PUBACK. With `answer`, resolves once the message is on disk (a notification, which nobody
   * answers, need not wait).
   */
  publish(
    topic: string,
    message: unknown,
    qos: 0 | 1,
    retain: boolean,
    answer = true,
  ): PubResult | Promise<PubResult> {
    checkTopicName(topic);
    this.o.checkTopic?.(topic, "publish");
    // JSON.stringify gives undefined for a value JSON cannot hold (no message was given).
    const payload = typeof message === "string" ? message : (JSON.stringify(message) as string | undefined);
    if (payload === undefined) throw new CcmError("RPC_INVALID_PARAMS", "message is required");
    const bytes = Buffer.byteLength(payload);
    if (bytes > this.o.maxMessage)
      throw new CcmError(
        "RPC_INVALID_PARAMS",
        `message is ${bytes} bytes; the limit is ${this.o.maxMessage}`,
      );
    const c = this.o.connection;
    if (qos === 0) {
      if (!c.connected) {
        this.stats.dropped_qos0++;
        return { status: "dropped" };
      }
      c.publish(topic, payload, 0, retain);
      this.stats.published++;
      return { status: "sent" };
    }
    const pushed = this.outbox.push({ topic, payload, retain });
    this.drops.add(pushed.dropped);
    this.stats.dropped_oldest = this.drops.total;
    if (!c.connected) this.stats.queued++;
    const result = (): PubResult => {
      const status = c.connected ? "sent" : "queued";
      return pushed.dropped > 0 ? { status, dropped: pushed.dropped } : { status };
    };
    return answer ? pushed.durable.then(result) : result();
  }

  /** Hands the broker every message that is on disk and not yet sent, oldest first. */
  private pump(): void {
    const c = this.o.connection;
    if (!c.connected) return;
    for (const m of this.outbox.takeDurable()) {
      this.inFlight++;
      c.publishQos1(m.topic, m.payload, m.retain, (e) => {
        if (e === undefined) {
          this.stats.published++;
          this.landed(m.seq);
        } else if (typeof (e as { code?: unknown }).code === "number") {
          // A reason code is the broker's refusal (MQTT 5): sending it again would not help.
          this.stats.refused++;
          this.o.logger.warn(`the broker refused a message to ${m.topic}: ${errorMessage(e)}`);
          this.landed(m.seq);
        } else {
          // The connection ended under it (stop): it stays on disk and leaves after the next start.
          this.o.logger.debug(`publish to ${m.topic}: ${errorMessage(e)}; kept in the outbox`);
          this.landed(undefined);
        }
      });
    }
  }

  private landed(seq: number | undefined): void {
    if (seq !== undefined) this.outbox.done(seq);
    this.inFlight--;
    if (this.inFlight === 0) this.settled?.();
  }

  /**
   * Stops taking messages: waits (at most `graceMs`) for the PUBACKs of messages in flight, and for
   * the outbox's last writes. What is still unacknowledged then stays on disk for the next start.
   */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    if (this.inFlight > 0 && this.o.connection.connected) {
      const left = this.inFlight;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.settled = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.settled = undefined;
      if (this.inFlight > 0)
        this.o.logger.info(
          `stopping with ${this.inFlight} of ${left} PUBACKs missing: kept for the next start`,
        );
    }
    await this.outbox.close();
  }

  private register(registry: MethodRegistry): void {
    registry.register({
      name: "MQTT.Pub",
      description:
        "Publishes a message (a string, or JSON sent as text); QoS 1 is kept on disk until the broker has it.",
      params: PubParams,
      handler: (p, ctx) =>
        this.publish(p.topic, p.message, p.qos ?? 0, p.retain ?? false, ctx.frame.id !== undefined),
    });
    registry.register({
      name: "MQTT.Sub",
      description: "Subscribes to a topic filter; messages reach the host as MQTT.Message {topic, message}.",
      params: SubParams,
      handler: async (p) => {
        checkTopicFilter(p.topic);
        this.o.checkTopic?.(p.topic, "subscribe");
        this.subs.set(p.topic, p.qos ?? 1);
        this.saveSubs();
        await this.o.connection.subscribe(p.topic, p.qos ?? 1);
        return true;
      },
    });
    registry.register({
      name: "MQTT.Unsub",
      description: "Stops a subscription made with MQTT.Sub.",
      params: Type.Object({ topic: Type.String() }),
      handler: (p) => {
        const had = this.subs.delete(p.topic);
        if (had) {
          this.saveSubs();
          this.o.connection.unsubscribe(p.topic);
        }
        return had;
      },
    });
  }

  private saveSubs(): void {
    atomicWriteFileSync(this.subsFile, JSON.stringify(Object.fromEntries(this.subs)));
  }
}

function readSubs(file: string): Record<string, 0 | 1> {
  try {
    const v = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(v).filter(([, q]) => q === 0 || q === 1)) as Record<
      string,
      0 | 1
    >;
  } catch {
    return {};
  }
}
