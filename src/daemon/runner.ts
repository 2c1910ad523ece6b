/**
 * Runs the CCM across in-process restarts: `Config.Save {"reboot":true}` and factory reset stop the
 * daemon's components and build them again from the saved config, without exiting the process.
 */
import type { ConfigSources } from "../config/load.js";
import { ConfigStore } from "../config/store.js";
import type { CcmConfig } from "../config/schema.js";
import { errorMessage } from "../errors.js";
import { silentLogger, type Logger } from "../log/logger.js";
import type { ByteTransport, SerialSettings } from "../transports/transport.js";
import type { ProvisioningDevices } from "./config-setup.js";
import { Daemon } from "./daemon.js";

/** Config sources and hooks for every daemon the runner builds. */
export interface RunnerOptions extends ConfigSources {
  dataDir: string;
  /** The logger for a config (its debug.level); silent by default. */
  logger?: (config: CcmConfig) => Logger;
  transportFactory?: (path: string, settings: SerialSettings) => ByteTransport;
  devices?: ProvisioningDevices;
}

/** Owns the current Daemon and replaces it on restart. */
export class CcmRunner {
  private readonly options: RunnerOptions;
  private current: Daemon | undefined;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  /** How many in-process restarts happened. */
  restarts = 0;

  constructor(options: RunnerOptions) {
    this.options = options;
  }

  /** The running daemon; throws before start(). */
  get daemon(): Daemon {
    if (this.current === undefined) throw new Error("CcmRunner not started");
    return this.current;
  }

  /** Builds the daemon from the store (throws CONFIG_INVALID naming a bad key) and starts it. */
  async start(): Promise<Daemon> {
    const o = this.options;
    const logger = o.logger?.(ConfigStore.open({ ...o, logger: silentLogger }).config) ?? silentLogger;
    const store = ConfigStore.open({ ...o, logger });
    const daemon = new Daemon({
      config: store.config,
      dataDir: o.dataDir,
      store,
      logger,
      reboot: (reason) => {
        void this.restart(reason);
      },
      ...(o.transportFactory === undefined ? {} : { transportFactory: o.transportFactory }),
      ...(o.devices === undefined ? {} : { devices: o.devices }),
    });
    this.current = daemon;
    await daemon.start();
    return daemon;
  }

  /** Stops the components and starts them again from the saved config; restarts never overlap. */
  restart(reason: string): Promise<void> {
    this.chain = this.chain.then(async () => {
      if (this.stopped) return;
      const old = this.current;
      old?.logger.info(`restart: ${reason}`);
      await old?.stop();
      try {
        await this.start();
        this.restarts++;
      } catch (e) {
        old?.logger.error(`restart failed: ${errorMessage(e)}`);
      }
    });
    return this.chain;
  }

  /** Stops the daemon for good. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.chain.catch(() => undefined);
    await this.current?.stop();
  }
}
