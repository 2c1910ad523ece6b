/**
 * The supervisor: runs `ccm start` from the active slot as a child process and does the swap and the
 * revert of self-updates (stm32-ota.md §5.4, mos's commit semantics):
 *
 * - a staged update (`pending.json`) is booted uncommitted, its previous slot kept as the revert slot;
 * - it is committed by OTA.Commit (the child asks over the IPC channel), or, when its commit_timeout
 *   is 0, once it has reported a healthy start and kept running for `healthy_after` seconds;
 * - it is reverted when it exits before being committed `boot_attempts_max` times (starts are counted
 *   in the state file, so power cycles count too), when its commit_timeout passes, or on OTA.Revert;
 * - a committed child that exits is restarted with a growing delay.
 *
 * SIGHUP (`systemctl reload ccm`) switches to a staged update; SIGTERM stops the child and exits.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { silentLogger, type Logger } from "../log/logger.js";
import { errorMessage } from "../errors.js";
import {
  clearPending,
  loadPending,
  loadState,
  pidPath,
  saveState,
  slotEntry,
  slotsDir,
  type SlotName,
  type SlotState,
} from "./slots.js";

/** What the child and the supervisor say over the IPC channel. */
export type ChildMessage = { type: "ready" } | { type: "state" | "commit" | "revert" | "switch"; id: number };
export type SupervisorReply = { type: "reply"; id: number; result?: unknown; error?: string };

/** OTA.GetBootState's answer. */
export interface BootState {
  supervised: boolean;
  active_slot: SlotName;
  is_committed: boolean;
  revert_slot: SlotName | null;
  commit_timeout: number;
  boot_attempts: number;
  version?: string;
  last_revert?: SlotState["last_revert"];
}

export interface SupervisorOptions {
  dataDir: string;
  /** Arguments of `ccm start` for every child, after `--data-dir` which the supervisor adds. */
  startArgs: readonly string[];
  /** How the base slot (the ccm the supervisor runs from) is started: node flags and script. */
  base: { execArgv: readonly string[]; main: string };
  logger?: Logger;
  /** Restart delay after a committed child exits: doubles from min up to max. */
  restartDelayMs?: { min: number; max: number };
  /** Delay before restarting an uncommitted child that exited. */
  retryDelayMs?: number;
  /** SIGTERM to SIGKILL. */
  stopTimeoutMs?: number;
}

interface SupervisorEvents {
  /** A child was started from `slot`. */
  spawn: [slot: SlotName, pid: number];
  /** The state file was written. */
  state: [state: SlotState];
}

export function bootStateOf(state: SlotState, supervised: boolean): BootState {
  const version = state.versions[state.active];
  return {
    supervised,
    active_slot: state.active,
    is_committed: state.committed,
    revert_slot: state.revert,
    commit_timeout: state.commit_timeout,
    boot_attempts: state.boot_attempts,
    ...(version === undefined ? {} : { version }),
    ...(state.last_revert === undefined ? {} : { last_revert: state.last_revert }),
  };
}

export class Supervisor extends EventEmitter<SupervisorEvents> {
  private readonly o: SupervisorOptions;
  private readonly log: Logger;
  private state: SlotState;
  private child: ChildProcess | undefined;
  /** The child is being stopped to start another slot. */
  private switching = false;
  private stopping = false;
  private crashes = 0;
  private timers = new Set<NodeJS.Timeout>();
  private finished: (() => void) | undefined;

  constructor(options: SupervisorOptions) {
    super();
    this.o = options;
    this.log = options.logger ?? silentLogger;
    this.state = loadState(options.dataDir);
  }

  /** The state as last written. */
  get bootState(): BootState {
    return bootStateOf(this.state, true);
  }

  /** Boots the active slot and supervises until stop(). */
  run(): Promise<void> {
    mkdirSync(slotsDir(this.o.dataDir), { recursive: true });
    writeFileSync(pidPath(this.o.dataDir), `${process.pid}\n`);
    const done = new Promise<void>((resolve) => (this.finished = resolve));
    this.boot();
    return done;
  }

  /** Switches to a staged update, if there is one (SIGHUP). */
  reload(): boolean {
    if (loadPending(this.o.dataDir) === undefined) {
      this.log.info("reload: no staged update");
      return false;
    }
    this.log.info("reload: switching to the staged update");
    this.restartChild();
    return true;
  }

  /** Stops the child and returns when it is gone. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.clearTimers();
    const done = new Promise<void>((resolve) => {
      const prev = this.finished;
      this.finished = () => {
        prev?.();
        resolve();
      };
    });
    if (this.child === undefined) this.finish();
    else this.kill(this.child);
    await done;
  }

  private finish(): void {
    rmSync(pidPath(this.o.dataDir), { force: true });
    this.finished?.();
  }

  private save(): void {
    saveState(this.o.dataDir, this.state);
    this.emit("state", this.state);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private boot(): void {
    if (this.stopping) return;
    this.clearTimers();
    const dir = this.o.dataDir;
    this.state = loadState(dir);
    const pending = loadPending(dir);
    if (pending !== undefined && this.state.committed) {
      this.log.info(`switching to ccm ${pending.version} in slot ${pending.slot}, uncommitted`);
      this.state = {
        ...this.state,
        active: pending.slot,
        committed: false,
        revert: this.state.active,
        boot_attempts: 0,
        boot_attempts_max: pending.boot_attempts_max,
        commit_timeout: pending.commit_timeout,
        healthy_after: pending.healthy_after,
        versions: { ...this.state.versions, [pending.slot]: pending.version },
      };
      this.save();
      clearPending(dir);
    }
    if (!this.state.committed) {
      if (this.state.boot_attempts >= this.state.boot_attempts_max) {
        this.revert(`it failed to start ${this.state.boot_attempts} times`);
        return;
      }
      this.state.boot_attempts++;
      this.save();
    }
    const slot = this.state.active;
    const args = slot === "base" ? [...this.o.base.execArgv, this.o.base.main] : [slotEntry(dir, slot)];
    const child = spawn(process.execPath, [...args, "start", "--data-dir", dir, ...this.o.startArgs], {
      stdio: ["inherit", "inherit", "inherit", "ipc"],
      env: { ...process.env, CCM_SUPERVISED: "1", CCM_SLOT: slot },
    });
    this.child = child;
    const attempt = this.state.committed
      ? ""
      : ` (uncommitted, start ${this.state.boot_attempts} of ${this.state.boot_attempts_max})`;
    this.log.info(`started ccm from slot ${slot}, pid ${child.pid ?? "?"}${attempt}`);
    this.emit("spawn", slot, child.pid ?? 0);
    child.on("error", (e) => {
      this.log.error(`slot ${slot}: ${errorMessage(e)}`);
    });
    child.on("message", (m) => {
      this.onMessage(child, m as ChildMessage);
    });
    child.on("exit", (code, signal) => {
      this.onExit(child, code, signal);
    });
    if (!this.state.committed && this.state.commit_timeout > 0) {
      const secs = this.state.commit_timeout;
      this.later(secs * 1000, () => {
        this.revert(`it was not committed within ${secs} s`);
      });
    }
  }

  private onMessage(child: ChildProcess, m: ChildMessage): void {
    if (child !== this.child) return;
    if (m.type === "ready") {
      this.log.info(`slot ${this.state.active} started`);
      this.crashes = 0;
      if (!this.state.committed && this.state.commit_timeout === 0) {
        const secs = this.state.healthy_after;
        this.later(secs * 1000, () => {
          if (child === this.child) this.commit(`it ran healthily for ${secs} s`);
        });
      }
      return;
    }
    const reply = (result: unknown, error?: string): void => {
      const msg: SupervisorReply = {
        type: "reply",
        id: m.id,
        ...(error === undefined ? { result } : { error }),
      };
      try {
        child.send(msg);
      } catch (e) {
        this.log.debug(`reply to the child lost: ${errorMessage(e)}`);
      }
    };
    switch (m.type) {
      case "state":
        reply(this.bootState);
        break;
      case "commit":
        this.commit("OTA.Commit");
        reply(this.bootState);
        break;
      case "revert":
        if (this.state.committed) {
          reply(undefined, "nothing to revert: the running version is committed");
          break;
        }
        reply(true);
        this.revert("OTA.Revert");
        break;
      case "switch":
        if (loadPending(this.o.dataDir) === undefined) {
          reply(undefined, "no update is staged");
          break;
        }
        reply(true);
        this.restartChild();
        break;
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    this.child = undefined;
    const how = signal === null ? `exit code ${code ?? "?"}` : `signal ${signal}`;
    if (this.stopping) {
      this.log.info(`ccm stopped (${how})`);
      this.finish();
      return;
    }
    if (this.switching) {
      this.switching = false;
      this.boot();
      return;
    }
    this.clearTimers();
    if (!this.state.committed) {
      const s = this.state;
      this.log.warn(
        `uncommitted slot ${s.active} exited (${how}), start ${s.boot_attempts} of ${s.boot_attempts_max}`,
      );
      if (s.boot_attempts >= s.boot_attempts_max) this.revert(`it exited (${how}) ${s.boot_attempts} times`);
      else
        this.later(this.o.retryDelayMs ?? 500, () => {
          this.boot();
        });
      return;
    }
    const { min, max } = this.o.restartDelayMs ?? { min: 1000, max: 30_000 };
    const delay = Math.min(max, min * 2 ** this.crashes);
    this.crashes++;
    this.log.warn(`ccm exited (${how}); restarting in ${delay} ms`);
    this.later(delay, () => {
      this.boot();
    });
  }

  private commit(reason: string): void {
    if (this.state.committed) return;
    this.state = { ...this.state, committed: true, revert: null, boot_attempts: 0 };
    this.save();
    this.clearTimers();
    this.log.info(`slot ${this.state.active} committed: ${reason}`);
  }

  /** Goes back to the revert slot (only while uncommitted) and starts it. */
  private revert(reason: string): void {
    if (this.state.committed) return;
    const from = this.state.active;
    const to = this.state.revert ?? "base";
    this.state = {
      ...this.state,
      active: to,
      committed: true,
      revert: null,
      boot_attempts: 0,
      last_revert: { from, to, reason, at: new Date().toISOString() },
    };
    this.save();
    this.log.warn(`reverted from slot ${from} to ${to}: ${reason}`);
    this.restartChild();
  }

  /** Stops the child, if any, and boots whatever the state and a pending update say. */
  private restartChild(): void {
    this.clearTimers();
    if (this.child === undefined) {
      this.boot();
      return;
    }
    this.switching = true;
    this.kill(this.child);
  }

  private kill(child: ChildProcess): void {
    child.kill("SIGTERM");
    const t = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }, this.o.stopTimeoutMs ?? 10_000);
    child.once("exit", () => {
      clearTimeout(t);
    });
  }
}
