/**
 * Effective config = schema defaults ⊕ `--config` file ⊕ `--set key=value` overrides, validated.
 * Errors name the path of the offending key.
 */
import { readFileSync } from "node:fs";
import type { TSchema } from "typebox";
import { Value } from "typebox/value";
import { CcmError, errorMessage } from "../errors.js";
import { ConfigSchema, type CcmConfig } from "./schema.js";

type Tree = Record<string, unknown>;

/** The schema node at a dotted path, or undefined when no such key exists. */
export function schemaAt(path: string, root: TSchema = ConfigSchema): TSchema | undefined {
  let node: TSchema | undefined = root;
  for (const part of path.split(".")) {
    const props: Record<string, TSchema> | undefined = (
      node as { properties?: Record<string, TSchema> } | undefined
    )?.properties;
    node = props?.[part];
    if (node === undefined) return undefined;
  }
  return node;
}

/** Turns `key=value` into a sparse tree, the value typed by the schema (`30` → 30, `true` → true). */
export function parseAssignment(assignment: string): Tree {
  const eq = assignment.indexOf("=");
  if (eq <= 0) throw new CcmError("CONFIG_INVALID", `expected key=value, got "${assignment}"`);
  const key = assignment.slice(0, eq);
  const raw = assignment.slice(eq + 1);
  const node = schemaAt(key);
  if (node === undefined) throw new CcmError("CONFIG_INVALID", `unknown config key: ${key}`);
  const type = (node as { type?: string }).type;
  let value: unknown = raw;
  if (type === "integer" || type === "number") {
    value = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(value))
      throw new CcmError("CONFIG_INVALID", `${key}: "${raw}" is not a number`);
  } else if (type === "boolean") {
    if (raw !== "true" && raw !== "false")
      throw new CcmError("CONFIG_INVALID", `${key}: "${raw}" is not true or false`);
    value = raw === "true";
  } else if (type === "object") {
    throw new CcmError("CONFIG_INVALID", `${key} is a section; set one of its keys`);
  }
  const tree: Tree = {};
  let at = tree;
  const parts = key.split(".");
  parts.forEach((p, i) => {
    if (i === parts.length - 1) at[p] = value;
    else at = at[p] = {};
  });
  return tree;
}

/** Deep-merges `over` into `base` (objects merge, everything else replaces). */
export function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isTree(v) && isTree(b) ? merge(b, v) : v;
  }
  return out;
}

/** Validates a tree against the schema with defaults filled in; throws CONFIG_INVALID naming the path. */
export function validateConfig(tree: Tree): CcmConfig {
  const withDefaults = Value.Default(ConfigSchema, structuredClone(tree));
  if (Value.Check(ConfigSchema, withDefaults)) return withDefaults;
  const errors = [...Value.Errors(ConfigSchema, withDefaults)];
  const first = errors.find((e) => e.keyword === "additionalProperties") ?? errors[0];
  const path = (first?.instancePath ?? "").replace(/^\//, "").replaceAll("/", ".");
  const p = first?.params as { additionalProperties?: string[] } | undefined;
  if (first?.keyword === "additionalProperties" && p?.additionalProperties !== undefined) {
    const key = [path, ...p.additionalProperties].filter((s) => s !== "").join(".");
    throw new CcmError("CONFIG_INVALID", `unknown config key: ${key}`);
  }
  throw new CcmError(
    "CONFIG_INVALID",
    `config ${path === "" ? "" : `${path} `}${first?.message ?? "is invalid"}`,
  );
}

export interface ConfigSources {
  /** A JSON file of config (`--config`). */
  file?: string;
  /** `key=value` overrides (`--set`), applied last. */
  set?: readonly string[];
  /** Already-parsed overrides (CLI flags such as --host-port), applied before `set`. */
  overrides?: Tree;
}

/** Builds the effective config from its sources. */
export function loadConfig(sources: ConfigSources = {}): CcmConfig {
  let tree: Tree = {};
  if (sources.file !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(sources.file, "utf8"));
    } catch (e) {
      throw new CcmError("CONFIG_INVALID", `cannot read config file ${sources.file}: ${errorMessage(e)}`);
    }
    if (!isTree(parsed))
      throw new CcmError("CONFIG_INVALID", `config file ${sources.file} must hold a JSON object`);
    tree = merge(tree, parsed);
  }
  if (sources.overrides !== undefined) tree = merge(tree, sources.overrides);
  for (const s of sources.set ?? []) tree = merge(tree, parseAssignment(s));
  return validateConfig(tree);
}

function isTree(v: unknown): v is Tree {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
