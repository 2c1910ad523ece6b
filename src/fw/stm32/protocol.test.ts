import assert from "node:assert/strict";
import { test } from "node:test";
import { memoryPair } from "../../transports/memory.js";
import { Stm32Client } from "./protocol.js";

test("Erase (0x43) refuses a page number above 255 or more than 255 pages, sending nothing, rather than wrap", async () => {
  const [host, device] = memoryPair();
  const sent: number[] = [];
  device.on("data", (b) => sent.push(...b));
  const client = new Stm32Client(host, 115200);
  try {
    await assert.rejects(client.erase(0x43, [255, 256], 1000), /cannot number page 256 \(at most 255\)/);
    await assert.rejects(
      client.erase(
        0x43,
        Array.from({ length: 256 }, (_, i) => i),
        1000,
      ),
      /takes 1 to 255 pages, not 256/,
    );
    await assert.rejects(client.erase(0x44, [0xfff0], 1000), /cannot number page 65520/);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(sent, []);
  } finally {
    client.dispose();
  }
});
