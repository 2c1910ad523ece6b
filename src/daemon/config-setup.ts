/**
 * Wires configuration and provisioning into the daemon: Config.Get/Set/Save, Sys.FactoryReset,
 * Wifi.Scan, the provisioning state machine, the reset button and the status LED.
 */
import type { ConfigStore } from "../config/store.js";
import { registerConfigMethods } from "../config/rpc-methods.js";
import { CcmError, errorMessage } from "../errors.js";
import type { InputLine, OutputLine } from "../lines/digital-line.js";
import { GpiodInput, GpiodOutput, GpiodTools } from "../lines/gpiod.js";
import type { Logger } from "../log/logger.js";
import {
  execRunner,
  NoNetworkBackend,
  type CommandRunner,
  type NetworkBackend,
  type StationStatus,
} from "../provisioning/network.js";
import { NmcliBackend } from "../provisioning/nmcli.js";
import { apName, ProvisioningService, STATE_NAMES } from "../provisioning/provisioning.js";
import { ResetButton } from "../provisioning/reset-button.js";
import { StatusLed } from "../provisioning/status-led.js";
import type { RpcAuth } from "../rpc/auth.js";
import type { CallContext, MethodRegistry } from "../rpc/registry.js";
import { systemClock, type Clock } from "../util/clock.js";

/** Channel types that reach the CCM over a network (secrets and factory reset need a login there). */
export const NETWORK_CHANNELS: readonly string[] = ["HTTP", "WS_in", "MQTT"];

/** ACL pseudo-method: callers it allows see secrets in Config.Get. */
export const SECRETS_ACL_METHOD = "Config.GetSecrets";

/** Hardware and OS hooks of provisioning; tests inject fakes, the daemon defaults to the real ones. */
export interface ProvisioningDevices {
  network?: NetworkBackend;
  /** Runs nmcli when `network` is not given. */
  commandRunner?: CommandRunner;
  button?: InputLine;
  led?: OutputLine;
  clock?: Clock;
}

/** What the daemon hands to setupConfig. */
export interface ConfigSetupDeps {
  registry: MethodRegistry;
  auth: RpcAuth;
  deviceId: string;
  logger: Logger;
  store: ConfigStore;
  /** Restarts the daemon's components; undefined: restarts are logged and skipped. */
  reboot: ((reason: string) => void) | undefined;
  devices: ProvisioningDevices;
}

/** What the daemon starts and stops. */
export interface ConfigServices {
  readonly store: ConfigStore;
  readonly provisioning: ProvisioningService;
  readonly network: NetworkBackend;
  /** Sys.GetInfo's `wifi` section: the backend, the station link and the access point. */
  wifiInfo(): WifiInfo;
  start(): void;
  stop(): Promise<void>;
}

/** Sys.GetInfo `wifi`. */
export interface WifiInfo {
  backend: string;
  sta: StationStatus;
  ap: { open: boolean; ssid?: string; ip?: string };
}

/** Whether `ctx` may do what `method` guards: auth decides when configured, else serial channels only. */
export function privileged(auth: RpcAuth, ctx: CallContext, method: string): boolean {
  if (!auth.enabled) return !NETWORK_CHANNELS.includes(ctx.channel);
  const r = auth.check(
    { method },
    {
      channel: ctx.channel,
      source: ctx.peer ?? ctx.channel,
      ...(ctx.user === undefined ? {} : { user: ctx.user }),
    },
  );
  return r.ok;
}

/** Registers the config and provisioning methods and builds the services behind them. */
export function setupConfig(d: ConfigSetupDeps): ConfigServices {
  const { store, devices } = d;
  const cfg = store.config;
  const log = d.logger.child("provision");
  const clock = devices.clock ?? systemClock;
  let rebooting = false;
  const reboot = (reason: string): void => {
    if (rebooting) return;
    rebooting = true;
    d.logger.warn(`restarting components: ${reason}`);
    clock.setTimeout(() => {
      if (d.reboot === undefined) d.logger.warn("no restart hook: restart ccm to apply the saved config");
      else d.reboot(reason);
    }, 300);
  };
  const factoryReset = (reason: string): void => {
    d.logger.warn(`factory reset: ${reason}`);
    store.factoryReset();
    reboot("factory reset");
  };
  const network =
    devices.network ??
    (cfg.wifi.backend === "nmcli"
      ? new NmcliBackend(devices.commandRunner ?? execRunner, cfg.wifi.ifname)
      : new NoNetworkBackend());
  const p = cfg.provision;
  const gpiod = new GpiodTools();
  const ledLine =
    devices.led ??
    (p.led.pin >= 0
      ? new GpiodOutput(p.gpio_chip, p.led.pin, gpiod, (e) => {
          log.warn(`status LED: ${errorMessage(e)}`);
        })
      : undefined);
  const led = ledLine === undefined ? undefined : new StatusLed(ledLine, clock, p.led.active_high);
  const provisioning = new ProvisioningService({
    store,
    network,
    clock,
    deviceId: d.deviceId,
    logger: log,
    factoryReset,
    ...(led === undefined ? {} : { led }),
  });
  const buttonLine =
    devices.button ??
    (p.btn.pin >= 0 ? new GpiodInput(p.gpio_chip, p.btn.pin, p.btn.pull_up, gpiod) : undefined);
  const button =
    buttonLine === undefined
      ? undefined
      : new ResetButton({
          line: buttonLine,
          clock,
          holdMs: p.btn.hold_ms,
          activeLow: p.btn.pull_up,
          onReset: () => {
            factoryReset("reset button held");
          },
          onError: (e) => {
            log.error(`reset button unusable: ${errorMessage(e)}`);
          },
        });

  registerConfigMethods(d.registry, {
    store,
    mayReadSecrets: (ctx) => privileged(d.auth, ctx, SECRETS_ACL_METHOD),
    reboot,
  });
  d.registry.register({
    name: "Sys.FactoryReset",
    description:
      "Wipes user config and Wi-Fi (vendor-locked keys stay) and restarts the components. Network callers need auth.",
    handler: (_params, ctx) => {
      if (!d.auth.enabled && NETWORK_CHANNELS.includes(ctx.channel))
        throw new CcmError("NOT_ALLOWED", "factory reset over the network needs RPC auth (rpc.auth_file)");
      factoryReset(`Sys.FactoryReset from ${ctx.channel}${ctx.user === undefined ? "" : ` (${ctx.user})`}`);
      return null;
    },
  });
  d.registry.register({
    name: "Provision.GetState",
    description:
      "The provisioning state (0 unprovisioned … 3 cloud connected), whether it is stable, and the access point.",
    handler: () => {
      const p = store.config.provision;
      return {
        state: provisioning.state,
        name: STATE_NAMES[provisioning.state],
        max_state: p.max_state,
        stable_state: p.stable_state,
        provisioned: provisioning.provisioned,
        ap_open: provisioning.apOpen,
        backend: network.name,
      };
    },
  });
  d.registry.register({
    name: "Wifi.Scan",
    description: "Networks in range, as Mongoose OS reports them: ssid, bssid, auth, channel, rssi.",
    handler: () => network.scan(),
  });

  return {
    store,
    provisioning,
    network,
    wifiInfo() {
      const ap = store.config.wifi.ap;
      return {
        backend: network.name,
        sta: network.station(),
        ap: provisioning.apOpen
          ? { open: true, ssid: apName(ap.ssid, d.deviceId), ip: ap.ip }
          : { open: false },
      };
    },
    start() {
      provisioning.start();
      void button?.start();
    },
    async stop() {
      button?.stop();
      await provisioning.stop();
      led?.close();
    },
  };
}
