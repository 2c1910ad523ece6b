/**
 * The CCM's own install slots under `<data dir>/slots/` (stm32-ota.md §5.4): `base` is the ccm the
 * supervisor itself runs from (the package the system installed, never written), `a` and `b` hold
 * versions installed from bundles. `state.json` says which runs, whether it is committed and what to
 * revert to; `pending.json` is a staged update the supervisor switches to. Both are written atomically.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { KeyObject } from "node:crypto";
import { CcmError, errorMessage } from "../errors.js";
import { atomicWriteFileSync } from "../util/atomic-file.js";
import { readBundle } from "./bundle.js";
import { extractTarGz } from "./tar.js";

export type SlotName = "base" | "a" | "b";

/** What the supervisor persists (mos: active_slot, is_committed, revert_slot, commit_timeout). */
export interface SlotState {
  active: SlotName;
  committed: boolean;
  /** The slot to go back to while `active` is uncommitted. */
  revert: SlotName | null;
  /** Starts of the uncommitted slot so far; reaching `boot_attempts_max` reverts. */
  boot_attempts: number;
  boot_attempts_max: number;
  /** Seconds the uncommitted slot has to be committed (OTA.Commit); 0: committed once healthy. */
  commit_timeout: number;
  /** Seconds a started slot must keep running to count as healthy (auto commit). */
  healthy_after: number;
  /** The version each slot holds, as installed. */
  versions: Partial<Record<SlotName, string>>;
  /** The last revert and why. */
  last_revert?: { from: SlotName; to: SlotName; reason: string; at: string };
}

/** A staged update waiting for the supervisor. */
export interface PendingUpdate {
  slot: "a" | "b";
  version: string;
  commit_timeout: number;
  boot_attempts_max: number;
  healthy_after: number;
}

export const slotsDir = (dataDir: string): string => join(dataDir, "slots");
export const statePath = (dataDir: string): string => join(slotsDir(dataDir), "state.json");
export const pendingPath = (dataDir: string): string => join(slotsDir(dataDir), "pending.json");
export const pidPath = (dataDir: string): string => join(slotsDir(dataDir), "supervisor.pid");
export const slotDir = (dataDir: string, slot: "a" | "b"): string => join(slotsDir(dataDir), slot);
/** Where a slot's ccm is started from. */
export const slotEntry = (dataDir: string, slot: "a" | "b"): string =>
  join(slotDir(dataDir, slot), "dist", "cli", "main.js");

export const DEFAULT_STATE: SlotState = {
  active: "base",
  committed: true,
  revert: null,
  boot_attempts: 0,
  boot_attempts_max: 3,
  commit_timeout: 0,
  healthy_after: 10,
  versions: {},
};

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CcmError("UPDATE_FAILED", `cannot read ${path}: ${errorMessage(e)}`);
  }
}

/** The slot state; the default (base, committed) when none was written. */
export function loadState(dataDir: string): SlotState {
  const s = readJson(statePath(dataDir));
  return s === undefined
    ? { ...DEFAULT_STATE, versions: {} }
    : { ...DEFAULT_STATE, ...(s as Partial<SlotState>) };
}

export function saveState(dataDir: string, state: SlotState): void {
  mkdirSync(slotsDir(dataDir), { recursive: true });
  atomicWriteFileSync(statePath(dataDir), JSON.stringify(state, null, 2) + "\n");
}

export function loadPending(dataDir: string): PendingUpdate | undefined {
  return readJson(pendingPath(dataDir)) as PendingUpdate | undefined;
}

export function clearPending(dataDir: string): void {
  rmSync(pendingPath(dataDir), { force: true });
}

/** The slot an update goes into: the one of a/b that is not running. */
export function targetSlot(state: SlotState): "a" | "b" {
  return state.active === "a" ? "b" : "a";
}

export interface StageOptions {
  /** When non-empty, the bundle must be signed by one of these keys. */
  trustedKeys?: readonly KeyObject[];
  /** Seconds to wait for OTA.Commit; 0: commit once the new version runs healthily. */
  commitTimeout: number;
  /** Failed starts of the new version before reverting (default 3). */
  bootAttempts?: number;
  /** Seconds the new version must run to count as healthy (default 10). */
  healthyAfter?: number;
}

/**
 * Verifies a bundle, unpacks its `type=ccm` part (a .tgz of an installed ccm) into the slot that is
 * not running, and leaves a pending update for the supervisor. Refused while an update is uncommitted.
 */
export function stageSelfUpdate(dataDir: string, bundle: Buffer, options: StageOptions): PendingUpdate {
  const b = readBundle(bundle, options.trustedKeys === undefined ? {} : { trustedKeys: options.trustedKeys });
  const parts = b.parts.filter((p) => p.type.toLowerCase() === "ccm");
  if (parts.length !== 1)
    throw new CcmError(
      "BUNDLE_INVALID",
      `a CCM update needs exactly one part of type=ccm; the bundle has ${parts.length}`,
    );
  const part = parts[0]!;
  const state = loadState(dataDir);
  if (!state.committed)
    throw new CcmError(
      "UPDATE_FAILED",
      `slot ${state.active} runs an uncommitted update; commit (OTA.Commit) or revert it first`,
    );
  const slot = targetSlot(state);
  const dir = slotDir(dataDir, slot);
  const tmp = `${dir}.new`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    extractTarGz(part.data, tmp);
    if (!existsSync(join(tmp, "dist", "cli", "main.js")))
      throw new CcmError("UPDATE_FAILED", `part ${part.name}: the archive has no dist/cli/main.js`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const pkg = readJson(join(dir, "package.json")) as { version?: unknown } | undefined;
  const version =
    typeof part.version === "string"
      ? part.version
      : typeof pkg?.version === "string"
        ? pkg.version
        : (b.manifest.version ?? "unknown");
  const pending: PendingUpdate = {
    slot,
    version,
    commit_timeout: options.commitTimeout,
    boot_attempts_max: options.bootAttempts ?? DEFAULT_STATE.boot_attempts_max,
    healthy_after: options.healthyAfter ?? DEFAULT_STATE.healthy_after,
  };
  atomicWriteFileSync(pendingPath(dataDir), JSON.stringify(pending, null, 2) + "\n");
  return pending;
}
