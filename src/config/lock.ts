/**
 * The vendor lock: `config.lock` lists key prefixes (`"mqtt"`, `"dash.token"`) or `"*"`.
 * A locked key cannot be changed over RPC on any channel and survives a factory reset.
 */

/** The section holding the lock itself: always locked, so a caller cannot unlock it. */
export const LOCK_SECTION = "config";

/** Whether the key at `path` is locked by `prefixes`. */
export function isLocked(path: string, prefixes: readonly string[]): boolean {
  if (path === LOCK_SECTION || path.startsWith(`${LOCK_SECTION}.`)) return true;
  return prefixes.some((p) => p === "*" || path === p || path.startsWith(`${p}.`));
}
