/**
 * The saved (user) config on disk: `config.json` in the data dir, and `config.prev.json`, the version
 * before the last save. Saves are power-safe (temp file, fsync, rename, directory fsync); a file that
 * is torn, corrupt or no longer valid is skipped for the previous one, and the caller is told why.
 */
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { errorMessage } from "../errors.js";
import { atomicWriteFileSync } from "../util/atomic-file.js";
import { isTree, type Tree } from "./tree.js";

/** The saved config, in the data dir. */
export const SAVED_FILE = "config.json";
/** The version before the last save. */
export const PREVIOUS_FILE = "config.prev.json";

/** What was found on disk: the tree to use and the problems met on the way. */
export interface SavedRead {
  tree: Tree;
  /** Which file the tree came from; undefined when none was usable (or none existed). */
  from: string | undefined;
  problems: string[];
}

/**
 * Reads the saved config, falling back to the previous version when the current one is unusable.
 * `accept` turns a parsed file into the tree to use, or throws saying why it cannot be used.
 */
export function readSaved(dataDir: string, accept: (tree: Tree) => Tree): SavedRead {
  removeStaleTemps(dataDir);
  const problems: string[] = [];
  for (const name of [SAVED_FILE, PREVIOUS_FILE]) {
    const path = join(dataDir, name);
    if (!existsSync(path)) continue;
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, "utf8"));
      if (!isTree(parsed)) throw new Error("not a JSON object");
      return { tree: accept(parsed), from: path, problems };
    } catch (e) {
      problems.push(`${path}: ${errorMessage(e)}`);
    }
  }
  return { tree: {}, from: undefined, problems };
}

/** Saves `tree`, keeping `previous` (the last good saved text) as the previous version. */
export function writeSaved(dataDir: string, tree: Tree, previous: string | undefined): string {
  const text = `${JSON.stringify(tree, null, 2)}\n`;
  if (previous !== undefined) atomicWriteFileSync(join(dataDir, PREVIOUS_FILE), previous);
  atomicWriteFileSync(join(dataDir, SAVED_FILE), text);
  return text;
}

/** Replaces both versions with `tree` (factory reset: nothing wiped may survive in the previous one). */
export function overwriteSaved(dataDir: string, tree: Tree): string {
  const text = `${JSON.stringify(tree, null, 2)}\n`;
  atomicWriteFileSync(join(dataDir, PREVIOUS_FILE), text);
  atomicWriteFileSync(join(dataDir, SAVED_FILE), text);
  return text;
}

function removeStaleTemps(dataDir: string): void {
  let names: string[];
  try {
    names = readdirSync(dataDir);
  } catch {
    return;
  }
  for (const n of names) {
    if (/^config(\.prev)?\.json\.tmp-\d+$/.test(n)) rmSync(join(dataDir, n), { force: true });
  }
}
