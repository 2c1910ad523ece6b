/** Reads the schema's marks: which keys are secret, which need a restart of the components. */
import type { TSchema } from "typebox";
import { schemaAt } from "./load.js";
import { isTree, type Tree } from "./tree.js";

/** What a caller that may not read secrets sees instead of a secret's value. */
export const REDACTED = "********";

function marked(path: string, mark: "x-secret" | "x-reboot"): boolean {
  const parts = path.split(".");
  for (let i = 1; i <= parts.length; i++) {
    const node = schemaAt(parts.slice(0, i).join(".")) as (TSchema & Record<string, unknown>) | undefined;
    if (node === undefined) return false;
    if (node[mark] === true) return true;
  }
  return false;
}

/** Whether the key at `path` holds a secret. */
export function isSecret(path: string): boolean {
  return marked(path, "x-secret");
}

/** Whether a change of the key at `path` takes effect only when the components restart. */
export function needsReboot(path: string): boolean {
  return marked(path, "x-reboot");
}

/** A copy of `value` (the config subtree at `prefix`) with every non-empty secret replaced by REDACTED. */
export function redact(value: unknown, prefix = ""): unknown {
  if (!isTree(value)) return prefix !== "" && isSecret(prefix) && value !== "" ? REDACTED : value;
  const out: Tree = {};
  for (const [k, v] of Object.entries(value)) out[k] = redact(v, prefix === "" ? k : `${prefix}.${k}`);
  return out;
}
