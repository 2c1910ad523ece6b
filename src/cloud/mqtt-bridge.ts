/**
 * The host's MQTT services (CCM doc §8): `MQTT.Pub`, `MQTT.Sub` → `MQTT.Message` notifications,
 * `MQTT.Unsub`. QoS 1 publishes wait on disk while the broker is away (the outbox) and leave in
 * order after reconnecting; QoS 0 is best effort and never blocks the host. The host's subscriptions
 * are kept in the data dir, so they survive reconnects and restarts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Type from "typebox";
import { CcmError, errorMessage } from "../errors.js";
import type { Logger } from "../log/logger.js";
import type { MethodRegistry } from "../rpc/registry.js";
import { atomicWriteFileSync } from "../util/atomic-file.js";
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
  published: number;
  queued: number;
  dropped_oldest: number;
  dropped_qos0: number;
  received: number;
}

/** How many queued messages are sent before their removal is written to disk. */
const DRAIN_BATCH = 64;

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
    received: 0,
  };
  readonly outbox: Outbox;
  private readonly o: MqttBridgeOptions;
  private readonly subs = new Map<string, 0 | 1>();
  private readonly subsFile: string;
  private draining = false;

  constructor(o: MqttBridgeOptions) {
    this.o = o;
    this.outbox = new Outbox(join(o.dataDir, "mqtt-outbox.jsonl"), o.queueMax);
    if (this.outbox.skipped > 0) o.logger.warn(`outbox: ${this.outbox.skipped} torn entries skipped`);
    if (this.outbox.size > 0) o.logger.info(`outbox: ${this.outbox.size} messages wait for the broker`);
    this.subsFile = join(o.dataDir, "mqtt-subscriptions.json");
    for (const [topic, qos] of Object.entries(readSubs(this.subsFile))) {
      this.subs.set(topic, qos);
      void o.connection.subscribe(topic, qos);
    }
    o.connection.on("up", () => {
      void this.drain();
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

  /** Publishes for the host: now, into the outbox (QoS 1 while away), or nowhere (QoS 0 while away). */
  publish(topic: string, message: unknown, qos: 0 | 1, retain: boolean): "sent" | "queued" | "dropped" {
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
        return "dropped";
      }
      c.publish(topic, payload, 0, retain);
      this.stats.published++;
      return "sent";
    }
    if (c.connected && this.outbox.size === 0) {
      c.publishAcked(topic, payload, 1, retain).then(
        () => this.stats.published++,
        // The connection went while the message was in flight: mqtt.js resends it on reconnect.
        (e: unknown) => {
          this.o.logger.debug(`publish to ${topic}: ${errorMessage(e)}`);
        },
      );
      return "sent";
    }
    const dropped = this.outbox.push({ topic, payload, retain });
    this.stats.queued++;
    if (dropped > 0) {
      this.stats.dropped_oldest += dropped;
      this.o.logger.warn(`outbox full (${this.o.queueMax}): dropped the ${dropped} oldest message(s)`);
    }
    return "queued";
  }

  /** Sends what waits in the outbox, oldest first, while the broker stays connected. */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.outbox.size > 0 && this.o.connection.connected) {
        const batch = this.outbox.peek(DRAIN_BATCH);
        await Promise.all(batch.map((m) => this.o.connection.publishAcked(m.topic, m.payload, 1, m.retain)));
        this.outbox.remove(batch.length);
        this.stats.published += batch.length;
      }
      if (this.outbox.size === 0) this.o.logger.debug("outbox empty");
    } catch (e) {
      this.o.logger.info(`outbox: ${this.outbox.size} left for the next connection (${errorMessage(e)})`);
    } finally {
      this.draining = false;
    }
  }

  private register(registry: MethodRegistry): void {
    registry.register({
      name: "MQTT.Pub",
      description: "Publishes a message (a string, or JSON sent as text); QoS 1 waits on disk while offline.",
      params: PubParams,
      handler: (p) => ({ status: this.publish(p.topic, p.message, p.qos ?? 0, p.retain ?? false) }),
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
