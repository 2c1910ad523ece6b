/**
 * Effective config = schema defaults ⊕ `--config` file ⊕ `--set key=value` overrides, validated.
 * Errors name the path of the offending key.
 */
import { readFileSync } from "node:fs";
import type { TSchema } from "typebox";
import { Value } from "typebox/value";
import { CcmError, errorMessage } from "../errors.js";
import { ConfigSchema, type CcmConfig } from "./schema.js";
import { getAt, isTree, merge, treeAt, type Tree } from "./tree.js";

export { merge };

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

/** How the text of `key=value` becomes a value: the JSON type the key holds. */
export type ValueKind = "number" | "boolean" | "array" | "section" | "string";

/** The kind of value the schema has at `path` (choices count as strings); undefined: no such key. */
export function schemaKind(path: string): ValueKind | undefined {
  const node = schemaAt(path) as { type?: string } | undefined;
  if (node === undefined) return undefined;
  switch (node.type) {
    case "integer":
    case "number":
      return "number";
    case "boolean":
    case "array":
      return node.type;
    case "object":
      return "section";
    default:
      return "string";
  }
}

/** Types the text after `=` as `kind` (`30` → 30, `true` → true, `a,b` → ["a","b"]); CONFIG_INVALID naming `key` otherwise. */
export function typedValue(key: string, raw: string, kind: ValueKind): unknown {
  switch (kind) {
    case "number": {
      const value = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(value))
        throw new CcmError("CONFIG_INVALID", `${key}: "${raw}" is not a number`);
      return value;
    }
    case "boolean":
      if (raw !== "true" && raw !== "false")
        throw new CcmError("CONFIG_INVALID", `${key}: "${raw}" is not true or false`);
      return raw === "true";
    case "array":
      return raw.trim() === "" ? [] : raw.split(",").map((s) => s.trim());
    case "section":
      throw new CcmError("CONFIG_INVALID", `${key} is a section; set one of its keys`);
    case "string":
      return raw;
  }
}

/** Splits `key=value`; CONFIG_INVALID when there is no key. */
export function splitAssignment(assignment: string): { key: string; raw: string } {
  const eq = assignment.indexOf("=");
  if (eq <= 0) throw new CcmError("CONFIG_INVALID", `expected key=value, got "${assignment}"`);
  return { key: assignment.slice(0, eq), raw: assignment.slice(eq + 1) };
}

/** Turns `key=value` into a sparse tree, the value typed by the schema (`30` → 30, `true` → true). */
export function parseAssignment(assignment: string): Tree {
  const { key, raw } = splitAssignment(assignment);
  const kind = schemaKind(key);
  if (kind === undefined) throw new CcmError("CONFIG_INVALID", `unknown config key: ${key}`);
  return treeAt(key, typedValue(key, raw, kind));
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
  const choices = path === "" ? undefined : allowedValues(path);
  const message =
    choices === undefined
      ? (first?.message ?? "is invalid")
      : `must be one of ${choices.map((c) => JSON.stringify(c)).join(", ")} (got ${JSON.stringify(getAt(withDefaults, path))})`;
  throw new CcmError("CONFIG_INVALID", `config ${path === "" ? "" : `${path} `}${message}`);
}

/** The values a key may take when its schema is a choice of constants (`wifi.backend`), else undefined. */
export function allowedValues(path: string): unknown[] | undefined {
  const options = (schemaAt(path) as { anyOf?: { const?: unknown }[] } | undefined)?.anyOf;
  if (options === undefined || !options.every((o) => "const" in o)) return undefined;
  return options.map((o) => o.const);
}

export interface ConfigSources {
  /** A JSON file of config (`--config`). */
  file?: string;
  /** `key=value` overrides (`--set`), applied last. */
  set?: readonly string[];
  /** Already-parsed overrides (CLI flags such as --host-port), applied before `set`. */
  overrides?: Tree;
}

/** Reads a JSON config file that must hold an object; CONFIG_INVALID naming the file otherwise. */
export function readConfigFile(file: string): Tree {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new CcmError("CONFIG_INVALID", `cannot read config file ${file}: ${errorMessage(e)}`);
  }
  if (!isTree(parsed)) throw new CcmError("CONFIG_INVALID", `config file ${file} must hold a JSON object`);
  return parsed;
}

/** The sparse tree the command line contributes: the `--config` file, then flags, then `--set`. */
export function commandLineTree(sources: ConfigSources = {}): Tree {
  let tree: Tree = {};
  if (sources.file !== undefined) tree = merge(tree, readConfigFile(sources.file));
  if (sources.overrides !== undefined) tree = merge(tree, sources.overrides);
  for (const s of sources.set ?? []) tree = merge(tree, parseAssignment(s));
  return tree;
}

/** Builds the effective config from its sources (without the saved file: see ConfigStore). */
export function loadConfig(sources: ConfigSources = {}): CcmConfig {
  return validateConfig(commandLineTree(sources));
}
