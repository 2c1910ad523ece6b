/**
 * The MQTT RPC channel (reference mos-protocols.md §5): requests arrive on `<device_id>/rpc` (whole
 * frames) and `<device_id>/rpc/<Method>` (the topic names the method), answers go to `<src>/rpc`.
 * No I/O of its own: the daemon feeds it messages from its MQTT connection and gives it `publish`.
 */
import { encodeFrame, type RequestFrame } from "../rpc/frame.js";
import type { RpcServer } from "../rpc/server.js";

/** Channel type of MQTT callers, as ACLs name it. */
export const MQTT_CHANNEL = "MQTT";

export interface MqttRpcOptions {
  deviceId: string;
  server: RpcServer;
  /** Publishes an answer (QoS as `rpc.mqtt.qos`). */
  publish: (topic: string, payload: string) => void;
  /** Told about messages that cannot be served (no valid `src` to answer to, not a frame, a response). */
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
    const problem = typeof src === "string" ? replyTopicProblem(src) : "no src";
    if (problem !== undefined && "id" in frame) {
      // Nowhere to answer: Mongoose OS drops these too ("Drop frame without src"). Publishing to a
      // topic the broker refuses would close the connection the cloud and the shadow share.
      this.drop(`${topic}: a request that cannot be answered (${problem})`);
      return;
    }
    const peer = typeof src === "string" ? src : topic;
    this.options.server.handle(frame, { channel: MQTT_CHANNEL, peer }, (reply) => {
      if (problem !== undefined) this.drop(`${topic}: an answer with nowhere to go (${problem})`);
      else this.options.publish(`${src as string}/rpc`, encodeFrame(reply));
    });
  }

  private drop(reason: string): void {
    this.dropped.count++;
    this.options.onDrop?.(reason);
  }
}

/** Longest `src` answered: the reply topic `<src>/rpc` stays short enough for any broker. */
const MAX_SRC_BYTES = 256;
/** Most topic levels in `src` (Mosquitto closes the connection of a publish past 200). */
const MAX_SRC_LEVELS = 32;

/** Why `<src>/rpc` is not a topic the CCM may publish to (MQTT 3.1.1 §1.5.3, §4.7), or undefined. */
function replyTopicProblem(src: string): string | undefined {
  if (src === "") return "empty src";
  if (src.includes("+") || src.includes("#")) return "src holds a wildcard";
  if (src.startsWith("$")) return "src names a broker topic ($…)";
  if (Buffer.byteLength(src) > MAX_SRC_BYTES) return `src longer than ${MAX_SRC_BYTES} bytes`;
  if (src.split("/").length > MAX_SRC_LEVELS) return `src of more than ${MAX_SRC_LEVELS} levels`;
  for (const ch of src) {
    const c = ch.codePointAt(0) ?? 0;
    // Control characters, lone surrogates and non-characters: brokers refuse them in topics.
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xdfff))
      return "src holds a control character or a lone surrogate";
    if ((c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) === 0xfffe) return "src holds a Unicode non-character";
  }
  return undefined;
}
