/**
 * The daemon's side of the supervisor's IPC channel, and OTA.GetBootState / OTA.Commit / OTA.Revert.
 * A CCM that no supervisor runs has nothing to commit or revert: it reports itself committed.
 */
import { CcmError } from "../errors.js";
import type { MethodRegistry } from "../rpc/registry.js";
import type { BootState, ChildMessage, SupervisorReply } from "./supervisor.js";

/** What the daemon can ask of whoever started it. */
export interface BootControl {
  readonly supervised: boolean;
  /** Tells the supervisor the CCM started (it counts towards a healthy start). */
  ready(): void;
  state(): Promise<BootState>;
  commit(): Promise<BootState>;
  revert(): Promise<void>;
  /** Asks the supervisor to switch to a staged update now. */
  switchToStaged(): Promise<void>;
}

const UNSUPERVISED: BootState = {
  supervised: false,
  active_slot: "base",
  is_committed: true,
  revert_slot: null,
  commit_timeout: 0,
  boot_attempts: 0,
};

/** For a CCM started by no supervisor. */
export const unsupervised: BootControl = {
  supervised: false,
  ready: () => undefined,
  state: () => Promise.resolve(UNSUPERVISED),
  commit: () => Promise.resolve(UNSUPERVISED),
  revert: () =>
    Promise.reject(
      new CcmError("NOT_ALLOWED", "nothing to revert: no supervisor runs this CCM (ccm supervise)"),
    ),
  switchToStaged: () =>
    Promise.reject(
      new CcmError("NOT_ALLOWED", "no supervisor runs this CCM to switch versions (ccm supervise)"),
    ),
};

let shared: BootControl | undefined;

/**
 * The supervisor's control when this process was started by one (an IPC channel and CCM_SUPERVISED=1);
 * `unsupervised` otherwise. When the supervisor goes away, the process terminates itself.
 */
export function supervisorControl(): BootControl {
  if (shared !== undefined) return shared;
  const send = process.send?.bind(process);
  if (send === undefined || process.env.CCM_SUPERVISED !== "1") return (shared = unsupervised);
  process.channel?.unref();
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  process.on("message", (message: unknown) => {
    const m = message as Partial<SupervisorReply>;
    const p = m.type === "reply" && typeof m.id === "number" ? pending.get(m.id) : undefined;
    if (p === undefined) return;
    pending.delete(m.id!);
    if (m.error === undefined) p.resolve(m.result);
    else p.reject(new CcmError("UPDATE_FAILED", m.error));
  });
  process.once("disconnect", () => {
    for (const p of pending.values()) p.reject(new CcmError("UPDATE_FAILED", "the supervisor went away"));
    pending.clear();
    process.kill(process.pid, "SIGTERM");
  });
  const request = (type: "state" | "commit" | "revert" | "switch"): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new CcmError("RPC_TIMEOUT", `the supervisor did not answer ${type}`));
      }, 5000);
      pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      send({ type, id } satisfies ChildMessage);
    });
  shared = {
    supervised: true,
    ready: () => {
      send({ type: "ready" } satisfies ChildMessage);
    },
    state: async () => (await request("state")) as BootState,
    commit: async () => (await request("commit")) as BootState,
    revert: async () => {
      await request("revert");
    },
    switchToStaged: async () => {
      await request("switch");
    },
  };
  return shared;
}

/** An uncommitted host image, as OTA.Commit and OTA.Revert reach it (host-ota.ts). */
export interface HostCommit {
  /** Keeps the uncommitted host image; its version, or undefined when none waits. */
  commit(): string | undefined;
  /** Flashes the previous host image back over an uncommitted one; false when none waits. */
  revert(): boolean;
}

/**
 * OTA.GetBootState, OTA.Commit and OTA.Revert, as mos's rpc-service-ota names them. Commit and
 * revert act on whatever is uncommitted: the host's image (`host`) and the CCM's own version.
 */
export function registerBootMethods(registry: MethodRegistry, control: BootControl, host?: HostCommit): void {
  registry.register({
    name: "OTA.GetBootState",
    description:
      "The CCM's own install slots: active_slot (base, a or b), is_committed, revert_slot, commit_timeout, version.",
    handler: () => control.state(),
  });
  registry.register({
    name: "OTA.Commit",
    description:
      "Commits what runs uncommitted after an update (the host's image, the CCM's version), so it is kept; a no-op when committed.",
    handler: async () => {
      const hostVersion = host?.commit();
      const state = await control.commit();
      return hostVersion === undefined ? state : { ...state, host_committed: hostVersion };
    },
  });
  registry.register({
    name: "OTA.Revert",
    description: "Goes back to the previous host image or CCM version while the running one is uncommitted.",
    handler: async () => {
      const hostReverted = host?.revert() ?? false;
      try {
        await control.revert();
      } catch (e) {
        if (!hostReverted) throw e;
      }
      return true;
    },
  });
}
