/**
 * The provisioning state machine (CCM guide §10–11, mongoose-os-libs/provision):
 * 0 unprovisioned → the network joined before forgotten, access point `CCM-xxxxxx` open; 1 station configured, joining; 2 network up,
 * access point closed; 3 cloud connected. The highest state reached is kept in provision.max_state;
 * a device that has never reached provision.stable_state and misses it by provision.timeout after
 * being configured is factory-reset, so a mistyped Wi-Fi password cannot strand it.
 */
import { EventEmitter } from "node:events";
import type { ConfigStore } from "../config/store.js";
import { errorMessage } from "../errors.js";
import { silentLogger, type Logger } from "../log/logger.js";
import type { Clock } from "../util/clock.js";
import type { NetworkBackend } from "./network.js";
import type { StatusLed } from "./status-led.js";

/** How long after a save the machine acts on it. */
export const SAVE_SETTLE_MS = 500;

/** Names of the provisioning states 0..3. */
export const STATE_NAMES = ["unprovisioned", "network configured", "network up", "cloud connected"] as const;

/** The store, network and clock the state machine runs on. */
export interface ProvisioningOptions {
  store: ConfigStore;
  network: NetworkBackend;
  clock: Clock;
  deviceId: string;
  logger?: Logger;
  led?: StatusLed;
  /** Wipes user config and restarts the components: the remedy for a missed timeout. */
  factoryReset: (reason: string) => void;
  /** Delay before joining again after a failed join: 30 s. */
  retryMs?: number;
}

/** The access point name: `?` characters replaced by the end of the device id. */
export function apName(pattern: string, deviceId: string): string {
  return pattern.replace(/\?+/, (q) =>
    deviceId
      .replace(/[^0-9a-z]/gi, "")
      .slice(-q.length)
      .padStart(q.length, "0"),
  );
}

/** Runs the state machine of one CCM; `state` is the current provisioning state (0..3). */
export class ProvisioningService extends EventEmitter<{ state: [state: number] }> {
  state = 0;
  apOpen = false;
  private readonly o: ProvisioningOptions;
  private readonly log: Logger;
  private joined: string | undefined;
  /** Whether the station network was forgotten since this service last joined one (or started). */
  private forgotten = false;
  private cloud = false;
  private timeout: unknown;
  private retry: unknown;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private settle: unknown;
  private readonly onSaved = (): void => {
    // A save with reboot restarts the components within SAVE_SETTLE_MS; the new ones then act once.
    this.clear("settle");
    this.settle = this.o.clock.setTimeout(() => {
      this.settle = undefined;
      this.schedule();
    }, SAVE_SETTLE_MS);
  };

  constructor(options: ProvisioningOptions) {
    super();
    this.o = options;
    this.log = options.logger ?? silentLogger;
  }

  /** Applies the config now and again after every save. */
  start(): void {
    this.o.store.on("saved", this.onSaved);
    this.schedule();
  }

  /** Stops timers and closes the access point. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.o.store.off("saved", this.onSaved);
    this.clear("settle");
    await this.queue;
    this.clear("timeout");
    this.clear("retry");
    if (this.apOpen) await this.o.network.stopAp().catch(() => undefined);
    this.apOpen = false;
  }

  /** Told by cloud connections when they come up or go down. */
  cloudConnected(up: boolean): void {
    this.cloud = up;
    if (this.state >= 2) this.setState(up ? 3 : 2);
  }

  /** Whether the device has ever reached the stable state. */
  get provisioned(): boolean {
    const p = this.o.store.config.provision;
    return p.max_state >= p.stable_state;
  }

  private schedule(): void {
    this.queue = this.queue
      .then(() => this.apply())
      .catch((e: unknown) => {
        this.log.error(`provisioning: ${errorMessage(e)}`);
      });
  }

  private async apply(): Promise<void> {
    if (this.stopped) return;
    const { wifi } = this.o.store.config;
    const net = this.o.network;
    if (net.managedByOs) {
      this.setState(this.cloud ? 3 : 2);
      return;
    }
    if (!wifi.sta.enable || wifi.sta.ssid === "") {
      this.joined = undefined;
      this.setState(0);
      await this.forget();
      await this.ap(wifi.ap.enable);
      return;
    }
    const want = `${wifi.sta.ssid}\0${wifi.sta.pass}`;
    if (this.joined === want) return;
    this.setState(1);
    this.forgotten = false;
    // One radio: NetworkManager takes the interface from the access point for the station anyway.
    await this.ap(false);
    try {
      this.log.info(`joining Wi-Fi ${wifi.sta.ssid}`);
      await net.join(wifi.sta.ssid, wifi.sta.pass);
    } catch (e) {
      this.log.warn(`cannot join ${wifi.sta.ssid}: ${errorMessage(e)}`);
      await this.ap(wifi.ap.enable);
      this.clear("retry");
      this.retry = this.o.clock.setTimeout(() => {
        this.retry = undefined;
        this.schedule();
      }, this.o.retryMs ?? 30_000);
      return;
    }
    this.joined = want;
    this.log.info(`joined Wi-Fi ${wifi.sta.ssid}`);
    this.setState(this.cloud ? 3 : 2);
  }

  /**
   * With no station configured (after a factory reset, or `wifi.sta.enable` false) the network the
   * CCM joined before is forgotten, so the OS does not rejoin it on its own; once per start.
   */
  private async forget(): Promise<void> {
    if (this.forgotten || this.stopped) return;
    try {
      await this.o.network.forget();
      this.forgotten = true;
    } catch (e) {
      this.log.warn(`cannot forget the Wi-Fi network joined before: ${errorMessage(e)}`);
    }
  }

  private async ap(open: boolean): Promise<void> {
    if (open === this.apOpen || this.stopped) return;
    const ap = this.o.store.config.wifi.ap;
    if (open) {
      const ssid = apName(ap.ssid, this.o.deviceId);
      await this.o.network.startAp({ ssid, pass: ap.pass, channel: ap.channel, ip: ap.ip });
      this.log.info(`access point ${ssid} open at ${ap.ip}`);
    } else {
      await this.o.network.stopAp();
      this.log.info("access point closed");
    }
    this.apOpen = open;
  }

  private setState(state: number): void {
    const p = this.o.store.config.provision;
    if (state !== this.state) {
      this.state = state;
      this.log.info(`provisioning state ${state} (${STATE_NAMES[state] ?? "?"})`);
      this.emit("state", state);
    }
    this.o.led?.show(state, p.stable_state === 0 ? 3 : p.stable_state);
    if (state > p.max_state) {
      try {
        this.o.store.persist({ provision: { max_state: state } });
      } catch (e) {
        this.log.error(`cannot save provision.max_state: ${errorMessage(e)}`);
      }
    }
    this.watchTimeout();
  }

  private watchTimeout(): void {
    const p = this.o.store.config.provision;
    const armed = p.stable_state > 0 && p.timeout > 0 && p.max_state < p.stable_state && this.state >= 1;
    if (!armed || this.state >= p.stable_state) {
      this.clear("timeout");
      return;
    }
    if (this.timeout !== undefined) return;
    this.timeout = this.o.clock.setTimeout(() => {
      this.timeout = undefined;
      if (this.stopped) return;
      this.o.factoryReset(`provisioning did not reach state ${p.stable_state} within ${p.timeout} s`);
    }, p.timeout * 1000);
  }

  private clear(which: "timeout" | "retry" | "settle"): void {
    const t = this[which];
    if (t !== undefined) this.o.clock.clearTimeout(t);
    this[which] = undefined;
  }
}
