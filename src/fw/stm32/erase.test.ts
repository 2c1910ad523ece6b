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
  assert.deepEqual(batches(planErase(xl.slice(0, 255), 0x43, xl.length)), [[0, 255]]);
  assert.deepEqual(planErase(xl.slice(250, 260), 0x43, xl.length), {
    mass: true,
    reason: "Erase (0x43) numbers pages in one byte and page 256 is past 255",
  });
  assert.deepEqual(batches(planErase(xl.slice(0, 511), 0x44, xl.length)), [
    [0, 500],
    [500, 11],
  ]);
});

test("an image that covers every page is one mass erase, with the page batches to fall back on", () => {
  const xl = pagesOf(deviceByPid(0x430)!);
  const plan = planErase(xl, 0x44, xl.length);
  assert.ok(plan.mass);
  assert.equal(plan.reason, "the image covers every page");
  assert.deepEqual(
    plan.fallback?.map((b) => [b[0]!.index, b.length]),
    [
      [0, 500],
      [500, 12],
    ],
  );
});
