/** Plain JSON config trees: merge, read at a dotted path, list leaves, keep only some leaves. */

export type Tree = Record<string, unknown>;

/** Whether `v` is a JSON object (not an array, not null). */
export function isTree(v: unknown): v is Tree {
  return typeof v === "object" && v !== null && !Array.isArray(v);
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

/** The value at a dotted path (`""`: the whole tree), or undefined. */
export function getAt(tree: unknown, path: string): unknown {
  if (path === "") return tree;
  let at: unknown = tree;
  for (const part of path.split(".")) {
    if (!isTree(at) || !Object.hasOwn(at, part)) return undefined;
    at = at[part];
  }
  return at;
}

/** A sparse tree holding `value` at a dotted path. */
export function treeAt(path: string, value: unknown): Tree {
  const parts = path.split(".");
  const root: Tree = {};
  let at = root;
  parts.forEach((p, i) => {
    if (i === parts.length - 1) at[p] = value;
    else at = at[p] = {};
  });
  return root;
}

/** Dotted paths of every non-object value in `tree` (arrays count as values). */
export function leafPaths(tree: Tree, prefix = ""): string[] {
  return Object.entries(tree).flatMap(([k, v]) => {
    const path = prefix === "" ? k : `${prefix}.${k}`;
    return isTree(v) && Object.keys(v).length > 0 ? leafPaths(v, path) : [path];
  });
}

/** The part of `tree` whose leaves pass `keep`; empty sections dropped. */
export function filterLeaves(tree: Tree, keep: (path: string) => boolean, prefix = ""): Tree {
  const out: Tree = {};
  for (const [k, v] of Object.entries(tree)) {
    const path = prefix === "" ? k : `${prefix}.${k}`;
    if (isTree(v) && Object.keys(v).length > 0) {
      const sub = filterLeaves(v, keep, path);
      if (Object.keys(sub).length > 0) out[k] = sub;
    } else if (keep(path)) out[k] = v;
  }
  return out;
}
