/**
 * The MQTT RPC channel (reference mos-protocols.md §5): requests arrive on `<device_id>/rpc` (whole
 * frames) and `<device_id>/rpc/<Method>` (the topic names the method), answers go to `<src>/rpc`.
 * No I/O of its own: the daemon feeds it messages from its MQTT connection and gives it `publish`.
 */
import type { RequestFrame } from "../rpc/frame.js";
import type { RpcServer } from "../rpc/server.js";

/** Channel type of MQTT callers, as ACLs name it. */
export const MQTT_CHANNEL = "MQTT";

export interface MqttRpcOptions {
  deviceId: string;
  server: RpcServer;
  /** Publishes an answer (QoS as `rpc.mqtt.qos`). */
  publish: (topic: string, payload: string) => void;
  /** Told about messages that cannot be served (no `src` to answer to, not a frame, a response). */
  onDrop?: (reason: string) => void;
}

/** Serves RPC arriving as MQTT messages. */
export class MqttRpcChannel {
  readonly dropped = { count: 0 };
  private readonly options: MqttRpcOptions;
  private readonly prefix: string;

  constructor(options: MqttRpcOptions) {
    this.options = options;
    this.prefix = `${options.deviceId}/rpc`;
  }

  /** The topic filters to subscribe. */
  topics(): string[] {
    return [this.prefix, `${this.prefix}/#`];
  }

  /** Whether a message on `topic` is for this channel. */
  matches(topic: string): boolean {
    return topic === this.prefix || topic.startsWith(`${this.prefix}/`);
  }

  /** Serves one message. */
  receive(topic: string, payload: Buffer | string): void {
    let value: unknown;
    try {
      value = JSON.parse(payload.toString());
    } catch {
      this.drop(`${topic}: not JSON`);
      return;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.drop(`${topic}: not a frame object`);
      return;
    }
    const frame = value as Partial<RequestFrame> & Record<string, unknown>;
    if (topic !== this.prefix) frame.method = topic.slice(this.prefix.length + 1);
    if (!("method" in frame) && ("result" in frame || "error" in frame)) {
      // Mongoose OS ignores responses nobody asked for; answering one would publish to its src,
      // which may be this CCM's own topic (or another CCM's): an endless loop.
      this.drop(`${topic}: a response nobody asked for`);
      return;
    }
    const src = frame.src;
    if (typeof src !== "string" || src === "") {
      // Nowhere to answer: Mongoose OS drops these too ("Drop frame without src").
      if ("id" in frame) {
        this.drop(`${topic}: a request without src cannot be answered`);
        return;
      }
    }
    this.options.server.handle(frame, { channel: MQTT_CHANNEL, peer: src ?? topic }, (reply) => {
      this.options.publish(`${src ?? ""}/rpc`, JSON.stringify(reply));
    });
  }

  private drop(reason: string): void {
    this.dropped.count++;
    this.options.onDrop?.(reason);
  }
}
