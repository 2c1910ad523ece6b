import assert from "node:assert/strict";
import { test } from "node:test";
import { isCcmError } from "../errors.js";
import { checkTopicFilter, checkTopicName, topicMatches } from "./topic.js";

test("topic filters match as MQTT 3.1.1 §4.7 says", () => {
  const cases: [string, string, boolean][] = [
    ["a/b", "a/b", true],
    ["a/+", "a/b", true],
    ["a/+", "a/b/c", false],
    ["a/#", "a", true],
    ["a/#", "a/b/c", true],
    ["#", "a/b", true],
    ["#", "$SYS/x", false],
    ["+/b", "$aws/b", false],
    ["$aws/things/+/shadow/update", "$aws/things/x/shadow/update", true],
    ["a/+/c", "a//c", true],
    ["a/b", "a/b/", false],
  ];
  for (const [f, t, want] of cases) assert.equal(topicMatches(f, t), want, `${f} vs ${t}`);
});

test("bad topics and filters are refused with invalid params naming the rule", () => {
  const bad = (fn: () => void, pattern: RegExp): void => {
    assert.throws(fn, (e) => isCcmError(e, "RPC_INVALID_PARAMS") && pattern.test(e.message));
  };
  bad(() => {
    checkTopicName("");
  }, /empty/);
  bad(() => {
    checkTopicName("a/+");
  }, /subscriptions/);
  bad(() => {
    checkTopicName("a\u0000b");
  }, /NUL/);
  bad(() => {
    checkTopicFilter("a/#/b");
  }, /# must be/);
  bad(() => {
    checkTopicFilter("a/b+");
  }, /\+ must be/);
  bad(() => {
    checkTopicName("x".repeat(70_000));
  }, /longer/);
  checkTopicFilter("a/+/#");
  checkTopicName("$aws/things/x/shadow/update");
});
