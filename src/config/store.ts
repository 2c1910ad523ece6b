/**
 * The config store: effective config = schema defaults ⊕ saved file (data dir) ⊕ `--config` file ⊕
 * command-line flags ⊕ `--set`, with the changes made over RPC since start on top.
 * Config.Set changes the running tree; Config.Save makes the changes survive a restart.
 */
import { EventEmitter } from "node:events";
import { mkdirSync } from "node:fs";
import { CcmError, errorMessage } from "../errors.js";
import { silentLogger, type Logger } from "../log/logger.js";
import { commandLineTree, schemaAt, validateConfig, type ConfigSources } from "./load.js";
import { LOCK_SECTION, isLocked } from "./lock.js";
import { REDACTED, isSecret, needsReboot } from "./marks.js";
import { overwriteSaved, readSaved, writeSaved } from "./saved-file.js";
import type { CcmConfig } from "./schema.js";
import { filterLeaves, getAt, leafPaths, merge, type Tree } from "./tree.js";

/** Where the store finds its layers. */
export interface ConfigStoreOptions extends ConfigSources {
  /** Where the saved config lives. */
  dataDir: string;
  logger?: Logger;
}

/** What a Config.Set did. */
export interface SetResult {
  /** Dotted paths whose effective value changed. */
  changed: string[];
  /** Whether any of them takes effect only when the components restart. */
  reboot: boolean;
}

interface StoreEvents {
  /** Effective values changed (by set or factory reset). */
  change: [paths: string[]];
  /** The saved file was written. */
  saved: [];
}

/** The running config of one CCM and its saved copy. */
export class ConfigStore extends EventEmitter<StoreEvents> {
  readonly dataDir: string;
  private readonly cmdline: Tree;
  private readonly logger: Logger;
  private saved: Tree;
  private savedText: string | undefined;
  private runtime: Tree = {};
  private current: CcmConfig;

  private constructor(
    options: ConfigStoreOptions,
    cmdline: Tree,
    saved: Tree,
    savedText: string | undefined,
  ) {
    super();
    this.dataDir = options.dataDir;
    this.logger = options.logger ?? silentLogger;
    this.cmdline = cmdline;
    this.saved = saved;
    this.savedText = savedText;
    this.current = this.compose(saved, {});
  }

  /**
   * Opens the store: reads the saved file (or the previous version, logging why), and composes the
   * effective config. Throws CONFIG_INVALID naming the key when the command line is wrong.
   */
  static open(options: ConfigStoreOptions): ConfigStore {
    const log = options.logger ?? silentLogger;
    const cmdline = commandLineTree(options);
    validateConfig(cmdline);
    mkdirSync(options.dataDir, { recursive: true });
    const read = readSaved(options.dataDir, (tree) => {
      const dropped = leafPaths(tree).filter((p) => schemaAt(p) === undefined || isLockSection(p));
      const usable = filterLeaves(tree, (p) => !dropped.includes(p));
      validateConfig(merge(usable, cmdline));
      // Keys an older or newer CCM knew, and the lock (vendor-only), are dropped rather than the whole file.
      for (const p of dropped)
        log.warn(`saved config: ignoring ${p} (${isLockSection(p) ? "vendor only" : "unknown key"})`);
      return usable;
    });
    for (const p of read.problems) log.warn(`saved config unusable, skipped: ${p}`);
    if (read.problems.length > 0)
      log.warn(read.from === undefined ? "starting from defaults" : `using ${read.from}`);
    const text = read.from === undefined ? undefined : `${JSON.stringify(read.tree, null, 2)}\n`;
    return new ConfigStore(options, cmdline, read.tree, text);
  }

  /** The effective config. */
  get config(): CcmConfig {
    return this.current;
  }

  /** The vendor lock's key prefixes. */
  get locks(): readonly string[] {
    return this.current.config.lock;
  }

  /** Whether there are changes a restart would lose. */
  get unsaved(): boolean {
    return (
      Object.keys(this.runtime).length > 0 &&
      JSON.stringify(merge(this.saved, this.runtime)) !== JSON.stringify(this.saved)
    );
  }

  /** The effective subtree at a dotted key (whole tree without one); CONFIG_KEY_NOT_FOUND if no such key. */
  get(key?: string): unknown {
    if (key === undefined || key === "") return this.current;
    if (schemaAt(key) === undefined) throw new CcmError("CONFIG_KEY_NOT_FOUND", `invalid config key: ${key}`);
    return getAt(this.current, key);
  }

  /**
   * Applies a sparse tree of changes atomically: refused whole with CONFIG_LOCKED naming a locked key,
   * or CONFIG_INVALID naming an unknown or mistyped one. `internal` (the CCM's own bookkeeping) skips the lock.
   */
  set(delta: Tree, options: { internal?: boolean } = {}): SetResult {
    const clean = filterLeaves(delta, (p) => !(isSecret(p) && getAt(delta, p) === REDACTED));
    const paths = leafPaths(clean);
    const locked = paths.find(
      (p) => isLocked(p, this.locks) && !(options.internal === true && !p.startsWith(LOCK_SECTION)),
    );
    if (locked !== undefined)
      throw new CcmError("CONFIG_LOCKED", `config key ${locked} is locked by the vendor`, {
        data: { key: locked },
      });
    const runtime = merge(this.runtime, clean);
    const next = this.compose(this.saved, runtime);
    const changed = paths.filter(
      (p) => JSON.stringify(getAt(next, p)) !== JSON.stringify(getAt(this.current, p)),
    );
    this.runtime = runtime;
    this.current = next;
    if (changed.length > 0) this.emit("change", changed);
    return { changed, reboot: changed.some(needsReboot) };
  }

  /** Writes the running changes to the saved file, power-safely, keeping the previous version. */
  save(): void {
    const tree = merge(this.saved, this.runtime);
    try {
      this.savedText = writeSaved(this.dataDir, tree, this.savedText);
    } catch (e) {
      throw new CcmError("CONFIG_SAVE_FAILED", `error saving config: ${errorMessage(e)}`, { cause: e });
    }
    this.saved = tree;
    this.emit("saved");
  }

  /** Saves `delta` alone (the CCM's own bookkeeping, e.g. provision.max_state), leaving other unsaved changes unsaved. */
  persist(delta: Tree): void {
    const saved = merge(this.saved, delta);
    try {
      this.savedText = writeSaved(this.dataDir, saved, this.savedText);
    } catch (e) {
      throw new CcmError("CONFIG_SAVE_FAILED", `error saving config: ${errorMessage(e)}`, { cause: e });
    }
    this.saved = saved;
    this.set(delta, { internal: true });
  }

  /** Wipes user config (Wi-Fi included) from memory and disk, keeping vendor-locked keys. */
  factoryReset(): void {
    const keep = (p: string): boolean => isLocked(p, this.locks) && !p.startsWith(LOCK_SECTION);
    const saved = filterLeaves(this.saved, keep);
    const runtime = filterLeaves(this.runtime, keep);
    this.savedText = overwriteSaved(this.dataDir, saved);
    const next = this.compose(saved, runtime);
    const changed = [...new Set([...leafPaths(this.saved), ...leafPaths(this.runtime)])].filter(
      (p) => JSON.stringify(getAt(next, p)) !== JSON.stringify(getAt(this.current, p)),
    );
    this.saved = saved;
    this.runtime = runtime;
    this.current = next;
    this.logger.warn("factory reset: user config wiped");
    this.emit("saved");
    if (changed.length > 0) this.emit("change", changed);
  }

  private compose(saved: Tree, runtime: Tree): CcmConfig {
    return validateConfig(merge(merge(saved, this.cmdline), runtime));
  }
}

function isLockSection(path: string): boolean {
  return path === LOCK_SECTION || path.startsWith(`${LOCK_SECTION}.`);
}
