import assert from "node:assert/strict";
import { test } from "node:test";
import { deviceByPid, pagesOf, type FlashPage } from "./devices.js";
import { planErase, type ErasePlan } from "./erase.js";

function batches(plan: ErasePlan): number[][] {
  assert.ok(!plan.mass, "not a mass erase");
  return plan.batches.map((b: FlashPage[]) => [b[0]!.index, b.length]);
}

test("pages are erased in batches the command can carry; past page 255, Erase (0x43) can only erase the whole flash", () => {
  const xl = pagesOf(deviceByPid(0x430)!);
  assert.deepEqual(batches(planErase(xl.slice(0, 255), 0x43)), [[0, 255]]);
  assert.deepEqual(planErase(xl.slice(250, 260), 0x43), {
    mass: true,
    reason: "Erase (0x43) numbers pages in one byte and page 256 is past 255",
  });
  assert.deepEqual(batches(planErase(xl, 0x44)), [
    [0, 500],
    [500, 12],
  ]);
});
