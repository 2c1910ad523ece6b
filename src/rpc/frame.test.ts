import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { encodeFrame } from "./frame.js";

const values: unknown[] = [
  0,
  -0,
  7,
  -12.5,
  1e21,
  5e-324,
  Number.MAX_SAFE_INTEGER,
  NaN,
  Infinity,
  -Infinity,
  "",
  "plain",
  'quote " backslash \\ newline \n tab \t',
  "unicode é ✓ 😀 and a lone surrogate \ud800",
  "\u0000\u001f\u2028",
  true,
  false,
  null,
  [],
  [1, "two", null, { three: 3 }],
  {},
  { a: 1, b: { c: [true, null] }, 'key with "quotes"': "v" },
  new Date(Date.UTC(2026, 11, 2, 12, 0, 0)),
  { toJSON: () => "custom" },
  undefined,
  () => 1,
  Symbol("s"),
];

describe("encodeFrame", () => {
  test("writes every success response byte for byte as JSON.stringify does", () => {
    const ids: unknown[] = [0, 1, 4096, -3, 1.5, 1e21, NaN, "abc", 'q"uote', "", null];
    for (const id of ids)
      for (const result of values) {
        const frame = { jsonrpc: "2.0", id, result };
        assert.equal(encodeFrame(frame), JSON.stringify(frame), `id ${String(id)}, result ${String(result)}`);
      }
  });

  test("leaves every other frame to JSON.stringify, with the same text", () => {
    const frames: object[] = [
      { id: 1, result: 2 },
      { jsonrpc: "2.0", result: 2, id: 1 },
      { id: 1, jsonrpc: "2.0", result: 2 },
      { jsonrpc: "2.0", id: 1, result: 2, src: "dev", dst: "mos", tag: "t" },
      { jsonrpc: "2.0", id: 1, src: "dev", result: 2 },
      { jsonrpc: "1.0", id: 1, result: 2 },
      { jsonrpc: "2.0", id: { odd: true }, result: 2 },
      { jsonrpc: "2.0", id: [1], result: 2 },
      { jsonrpc: "2.0", id: 1, error: { code: -32601, message: "method not found" } },
      { jsonrpc: "2.0", id: 1 },
      { jsonrpc: "2.0", method: "Sum", params: [1, 2], id: 3 },
      { jsonrpc: "2.0", method: "Shadow.Delta", params: { on: true } },
      { jsonrpc: "2.0", id: undefined, result: 2 },
      [
        { jsonrpc: "2.0", id: 1, result: 2 },
        { jsonrpc: "2.0", id: 2, result: 3 },
      ],
      [],
      {},
    ];
    for (const frame of frames)
      assert.equal(encodeFrame(frame), JSON.stringify(frame), JSON.stringify(frame));
  });

  test("ignores what JSON.stringify ignores and counts only own enumerable keys", () => {
    const hidden = { jsonrpc: "2.0", id: 1, result: 2 };
    Object.defineProperty(hidden, "extra", { value: 1, enumerable: false });
    const sym = { jsonrpc: "2.0", id: 1, result: 2, [Symbol("s")]: 3 };
    const inherited = Object.assign(Object.create({ inheritedKey: 1 }) as object, {
      jsonrpc: "2.0",
      id: 1,
      result: 2,
    });
    for (const frame of [hidden, sym, inherited]) assert.equal(encodeFrame(frame), JSON.stringify(frame));
    assert.throws(() => encodeFrame({ jsonrpc: "2.0", id: 1, result: 10n }), TypeError);
  });
});
