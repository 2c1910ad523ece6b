/**
 * A plain AWS-shadow client for tests: an mqtt.js connection that subscribes to every answer topic
 * under a shadow prefix before it asks anything (as AWS advises), and collects what arrives.
 */
import type { TestContext } from "node:test";
import mqtt from "mqtt";
import { until } from "./daemon.js";

export type Doc = Record<string, unknown>;

export interface AwsShadowTestClient {
  /** Every answer not taken yet: the topic after the prefix (`update/accepted`) and its document. */
  got: { topic: string; doc: Doc }[];
  /** Publishes a request (`update`, `get`, `delete`): a document, raw bytes, or an empty payload. */
  send(op: string, doc?: object | Buffer, qos?: 0 | 1): Promise<void>;
  /** Takes the first answer on `topic` (with `token` as clientToken, if given), waiting for it. */
  next(topic: string, token?: string): Promise<Doc>;
  /** The answers on `topic` not taken yet. */
  pending(topic: string): Doc[];
  /** The underlying client, for bursts. */
  client: mqtt.MqttClient;
}

const ANSWERS = [
  "get/accepted",
  "get/rejected",
  "update/accepted",
  "update/rejected",
  "update/delta",
  "update/documents",
  "delete/accepted",
  "delete/rejected",
];

/** Connects to `server` (`127.0.0.1:PORT`) and subscribes to the answers under `prefix`. */
export async function awsShadowClient(
  t: TestContext,
  server: string,
  prefix: string,
): Promise<AwsShadowTestClient> {
  const client = await mqtt.connectAsync(`mqtt://${server}`);
  t.after(() => client.endAsync(true));
  const got: { topic: string; doc: Doc }[] = [];
  client.on("message", (topic, p) => {
    if (topic.startsWith(`${prefix}/`))
      got.push({ topic: topic.slice(prefix.length + 1), doc: JSON.parse(p.toString()) as Doc });
  });
  await client.subscribeAsync(
    ANSWERS.map((a) => `${prefix}/${a}`),
    { qos: 1 },
  );
  const matches = (g: { topic: string; doc: Doc }, topic: string, token?: string): boolean =>
    g.topic === topic && (token === undefined || g.doc.clientToken === token);
  return {
    got,
    client,
    async send(op, doc, qos = 1) {
      const payload = doc === undefined ? "" : Buffer.isBuffer(doc) ? doc : JSON.stringify(doc);
      await client.publishAsync(`${prefix}/${op}`, payload, { qos });
    },
    async next(topic, token) {
      await until(() => got.some((g) => matches(g, topic, token)), `${topic} ${token ?? ""}`);
      const i = got.findIndex((g) => matches(g, topic, token));
      return got.splice(i, 1)[0]!.doc;
    },
    pending(topic) {
      return got.filter((g) => g.topic === topic).map((g) => g.doc);
    },
  };
}

/**
 * `doc` with every `timestamp` replaced by "T" after checking it is epoch seconds within the test's
 * run (`since` to now): documents are then compared field by field, timestamps by shape.
 */
export function timestampsAsT(doc: unknown, since: number): unknown {
  const now = Math.ceil(Date.now() / 1000);
  if (Array.isArray(doc)) return doc.map((x) => timestampsAsT(x, since));
  if (typeof doc !== "object" || doc === null) return doc;
  const out: Doc = {};
  for (const [k, v] of Object.entries(doc)) {
    if (k === "timestamp" && typeof v === "number") {
      if (!Number.isInteger(v) || v < since || v > now)
        throw new Error(`timestamp ${v} is not epoch seconds between ${since} and ${now}`);
      out[k] = "T";
    } else out[k] = timestampsAsT(v, since);
  }
  return out;
}
