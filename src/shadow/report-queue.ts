/**
 * The host's reported-state patches that could not be sent yet, oldest first. A patch is merged into
 * the one before it whenever sending the merge is exactly the same as sending both in turn (shadow
 * merge rules, peers.md §5.3.3); otherwise it waits as a patch of its own. Bounded.
 */
import { CcmError } from "../errors.js";
import type { Json, JsonObject } from "./document.js";

/** Patches kept apart (each needed one that could not be merged) before a report is refused. */
const MAX_PATCHES = 16;

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Whether `later` can be folded into `earlier`. Not when `later` sets an object where `earlier`
 * sets null, a scalar or an array: in turn, the old object is gone first; merged, it would not be.
 */
function mergeable(earlier: JsonObject, later: JsonObject): boolean {
  for (const [k, v] of Object.entries(later)) {
    if (!isObject(v) || earlier[k] === undefined) continue;
    const e = earlier[k];
    if (!isObject(e) || !mergeable(e, v)) return false;
  }
  return true;
}

function mergeInto(earlier: JsonObject, later: JsonObject): void {
  for (const [k, v] of Object.entries(later)) {
    const e = earlier[k];
    if (isObject(v) && isObject(e)) mergeInto(e, v);
    else earlier[k] = structuredClone(v);
  }
}

/** Reported patches waiting for the link. */
export class ReportQueue {
  private readonly patches: JsonObject[] = [];

  /** How many patches wait (merged ones count once). */
  get length(): number {
    return this.patches.length;
  }

  /** Adds `patch` after the others; LINK_DOWN when MAX_PATCHES that cannot be merged already wait. */
  add(patch: JsonObject): void {
    const last = this.patches.at(-1);
    if (last !== undefined && mergeable(last, patch)) {
      mergeInto(last, patch);
      return;
    }
    if (this.patches.length >= MAX_PATCHES)
      throw new CcmError(
        "LINK_DOWN",
        `the shadow is out of reach and ${MAX_PATCHES} reports that cannot be merged wait already`,
      );
    this.patches.push(structuredClone(patch));
  }

  /** Takes the oldest patch out to send it (later ones are not merged into it any more). */
  take(): JsonObject | undefined {
    return this.patches.shift();
  }

  /** Puts a patch that could not be sent back in front. */
  putBack(patch: JsonObject): void {
    this.patches.unshift(patch);
  }
}
