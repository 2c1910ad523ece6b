/** MQTT topic names and filters (MQTT 3.1.1 §4.7): validation and wildcard matching. */
import { CcmError } from "../errors.js";

/** Longest topic in bytes the protocol allows. */
const MAX_TOPIC_BYTES = 65535;

function checkCommon(topic: string, what: string): void {
  if (topic === "") throw new CcmError("RPC_INVALID_PARAMS", `${what} must not be empty`);
  if (Buffer.byteLength(topic) > MAX_TOPIC_BYTES)
    throw new CcmError("RPC_INVALID_PARAMS", `${what} is longer than ${MAX_TOPIC_BYTES} bytes`);
  if (topic.includes("\u0000")) throw new CcmError("RPC_INVALID_PARAMS", `${what} must not contain NUL`);
}

/** Throws RPC_INVALID_PARAMS unless `topic` can be published to (no wildcards). */
export function checkTopicName(topic: string): void {
  checkCommon(topic, "topic");
  if (/[+#]/.test(topic))
    throw new CcmError("RPC_INVALID_PARAMS", `topic "${topic}": + and # are for subscriptions`);
}

/** Throws RPC_INVALID_PARAMS unless `filter` is a valid subscription (`+` whole levels, `#` last). */
export function checkTopicFilter(filter: string): void {
  checkCommon(filter, "topic filter");
  const levels = filter.split("/");
  levels.forEach((level, i) => {
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1))
      throw new CcmError("RPC_INVALID_PARAMS", `topic filter "${filter}": # must be a whole last level`);
    if (level.includes("+") && level !== "+")
      throw new CcmError("RPC_INVALID_PARAMS", `topic filter "${filter}": + must be a whole level`);
  });
}

/** Whether `topic` matches `filter` (wildcards do not match topics starting with `$` at their place). */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  const f = filter.split("/");
  const t = topic.split("/");
  if (topic.startsWith("$") && (f[0] === "#" || f[0] === "+")) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
