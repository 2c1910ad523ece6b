/**
 * The composition root: config → registry of the CCM's own methods → host link.
 * The only place that knows every service; later services (cloud, shadow, OTA) join here.
 */
import { mkdirSync } from "node:fs";
import type { CcmConfig } from "../config/schema.js";
import { errorMessage } from "../errors.js";
import { silentLogger, type Logger } from "../log/logger.js";
import { registerRpcBuiltins } from "../rpc/builtins.js";
import { MethodRegistry } from "../rpc/registry.js";
import { RpcServer } from "../rpc/server.js";
import type { ByteTransport, SerialSettings } from "../transports/transport.js";
import { HOST_CHANNEL, HostLink } from "./host-link.js";
import { authorizer, createAuth } from "./auth-setup.js";
import type { RpcAuth } from "../rpc/auth.js";
import { createForwarder } from "../rpc/forwarder.js";
import { SerialRpcChannel } from "../channels/serial-rpc.js";
import { resolveDeviceId } from "./identity.js";
import { RpcChannels } from "./rpc-channels.js";
import { MqttConnection } from "../cloud/mqtt-connection.js";
import { MqttBridge } from "../cloud/mqtt-bridge.js";
import { HostInbox } from "./host-inbox.js";
import { createShadow } from "./shadow-setup.js";
import { cloudMqtt } from "./cloud-setup.js";
import { fsRoot, registerFsMethods } from "./fs-service.js";
import { createHostOta } from "./ota-setup.js";
import type { HostOta } from "../fw/host-ota.js";
import { AzureDirectMethods } from "../cloud/azure-methods.js";
import { DASH_CHANNEL, DashConnection } from "../cloud/dash.js";
import type { ShadowService } from "../shadow/service.js";
import { registerSysMethods } from "./sys.js";
import { PAGE_PATHS, servePage } from "../provisioning/page.js";
import { VERSION } from "../version.js";
import { ConfigStore } from "../config/store.js";
import { setupConfig, type ConfigServices, type ProvisioningDevices } from "./config-setup.js";
import { registerBootMethods, supervisorControl, type BootControl } from "../fw/boot-control.js";

export interface DaemonOptions {
  config: CcmConfig;
  /** Where everything the CCM persists lives. */
  dataDir: string;
  logger?: Logger;
  transportFactory?: (path: string, settings: SerialSettings) => ByteTransport;
  /** The config store (saved file, lock); absent: one on `dataDir` with `config` as the command line. */
  store?: ConfigStore;
  /** Restarts the components in-process (Config.Save reboot, factory reset); see CcmRunner. */
  reboot?: (reason: string) => void;
  /** Network backend, GPIO lines and clock of provisioning; absent: the real ones the config names. */
  devices?: ProvisioningDevices;
  /** The supervisor's commit/revert (OTA.Commit, OTA.Revert); absent: the one that started this process, if any. */
  boot?: BootControl;
}

/** A running CCM: its method registry, its RPC server and its host link. */
export class Daemon {
  readonly config: CcmConfig;
  readonly deviceId: string;
  readonly registry = new MethodRegistry();
  readonly server: RpcServer;
  readonly host: HostLink;
  readonly logger: Logger;
  readonly auth: RpcAuth;
  /** The management UART (mos over serial), when `rpc.uart.port` is set. */
  readonly rpcUart: SerialRpcChannel | undefined;
  /** HTTP/WebSocket and MQTT RPC. */
  readonly channels: RpcChannels;
  /** The MQTT connection (`mqtt.enable`), shared by MQTT RPC, the host's MQTT.* and the shadow. */
  readonly mqtt: MqttConnection | undefined;
  /** The host's MQTT.Pub / Sub / Unsub, when MQTT is enabled. */
  readonly mqttBridge: MqttBridge | undefined;
  /** Notifications held for the host while its link is down. */
  readonly inbox: HostInbox;
  /** Shadow.* and deltas to the host (`shadow.enable`). */
  readonly shadow: ShadowService | undefined;
  /** Host firmware updates (OTA.*, `ota.*`). */
  readonly hostOta: HostOta | undefined;
  /** The mDash-style dashboard connection (`dash.enable`). */
  readonly dash: DashConnection | undefined;
  /** Azure IoT Hub direct methods as RPC calls (`azure.enable`). */
  readonly directMethods: AzureDirectMethods | undefined;
  /** Config store, Config.* methods, provisioning. */
  readonly configServices: ConfigServices;

  constructor(options: DaemonOptions) {
    this.config = options.config;
    this.logger = options.logger ?? silentLogger;
    mkdirSync(options.dataDir, { recursive: true });
    this.deviceId = resolveDeviceId(options.config.device.id, options.dataDir);
    const log = this.logger;
    this.auth = createAuth(options.config.rpc);
    this.server = new RpcServer(this.registry, {
      selfId: this.deviceId,
      authorize: authorizer(this.auth),
      fallback: (frame, ctx) => forward(frame, ctx),
      onInternalError: (e, method) => {
        log.error(`${method} failed: ${e instanceof Error ? (e.stack ?? e.message) : errorMessage(e)}`);
      },
      onNotificationFailed: (method, error, ctx) => {
        const who = ctx.user === undefined ? ctx.channel : `${ctx.channel}, user ${ctx.user}`;
        log.warn(
          `notification ${method} (${who}, no id: nobody is told) failed: ${error.message} (${error.code})`,
        );
      },
    });
    this.host = new HostLink({
      config: options.config.host,
      server: this.server,
      logger: log.child("host"),
      ...(options.transportFactory === undefined ? {} : { transportFactory: options.transportFactory }),
    });
    const host = this.host;
    const forward = createForwarder({
      channel: HOST_CHANNEL,
      available: () => host.state !== "down",
      methods: () => host.info.methods,
      call: (method, params) => host.call(method, params),
      notify: (method, params) => {
        host.notify(method, params);
      },
      refresh: () => host.refreshMethods(),
    });
    if (options.config.rpc.uart.port !== "") {
      this.rpcUart = new SerialRpcChannel({
        path: options.config.rpc.uart.port,
        settings: { baudRate: options.config.rpc.uart.baud },
        server: this.server,
        channelType: "UART",
        ...(options.transportFactory === undefined ? {} : { transportFactory: options.transportFactory }),
      });
    }
    this.inbox = new HostInbox(this.host, options.config.host.inbox_max, log.child("host"));
    const cloud = cloudMqtt(options.config, this.deviceId, fsRoot(options.dataDir));
    registerFsMethods(this.registry, fsRoot(options.dataDir));
    if (cloud.mqtt.enable) {
      this.mqtt = new MqttConnection(cloud.mqtt, this.deviceId, log.child("mqtt"), {
        ...(cloud.password === undefined ? {} : { password: cloud.password }),
      });
      this.mqttBridge = new MqttBridge({
        ...(cloud.checkTopic === undefined ? {} : { checkTopic: cloud.checkTopic }),
        connection: this.mqtt,
        registry: this.registry,
        host: this.inbox,
        dataDir: options.dataDir,
        maxMessage: options.config.mqtt.max_message,
        queueMax: options.config.mqtt.queue_max,
        logger: log.child("mqtt"),
      });
    }
    if (options.config.dash.enable) {
      const d = options.config.dash;
      this.dash = new DashConnection({
        url: d.server,
        token: d.token,
        deviceId: this.deviceId,
        server: this.server,
        info: () =>
          this.registry
            .get("Sys.GetInfo")
            ?.handler(undefined, { channel: DASH_CHANNEL, frame: { method: "Sys.GetInfo" } }),
        logger: log.child("dash"),
        heartbeatMs: d.heartbeat_s * 1000,
        ca: d.ssl_ca,
        reconnectMinMs: options.config.mqtt.reconnect_min_ms,
        reconnectMaxMs: options.config.mqtt.reconnect_max_ms,
      });
    }
    this.shadow = createShadow({
      dash: this.dash,
      config: options.config,
      deviceId: this.deviceId,
      dataDir: options.dataDir,
      registry: this.registry,
      mqtt: this.mqtt,
      inbox: this.inbox,
      logger: log.child("shadow"),
    });
    if (options.config.azure.enable && this.mqtt !== undefined)
      this.directMethods = new AzureDirectMethods({ mqtt: this.mqtt, server: this.server });
    this.channels = new RpcChannels({
      config: options.config,
      deviceId: this.deviceId,
      server: this.server,
      auth: this.auth,
      mqtt: this.mqtt,
      logger: log,
    });
    for (const path of PAGE_PATHS) this.channels.http?.addRoute(path, servePage);
    registerRpcBuiltins(this.registry, {
      extraNames: (ctx) => (ctx.channel === HOST_CHANNEL ? [] : (host.info.methods ?? [])),
    });
    registerSysMethods(this.registry, {
      deviceId: this.deviceId,
      host: this.host,
      startedAt: Date.now(),
      sections: {
        mqtt: () =>
          this.mqtt === undefined
            ? undefined
            : {
                connected: this.mqtt.connected,
                server: cloud.mqtt.server,
                error: this.mqtt.lastError === "" ? undefined : this.mqtt.lastError,
                outbox: this.mqttBridge?.outbox.size,
                stats: this.mqttBridge?.stats,
              },
        dash: () =>
          this.dash === undefined
            ? undefined
            : {
                connected: this.dash.online,
                server: options.config.dash.server,
                error: this.dash.lastError === "" ? undefined : this.dash.lastError,
              },
        ota: () => (this.hostOta === undefined ? undefined : this.hostOta.status()),
        shadow: () =>
          this.shadow === undefined
            ? undefined
            : { backend: this.shadow.backend.kind, deltas: this.shadow.deltas },
        wifi: () => this.configServices.wifiInfo(),
        inbox: () =>
          this.inbox.size === 0 && this.inbox.dropped === 0
            ? undefined
            : { size: this.inbox.size, dropped: this.inbox.dropped },
      },
    });
    const boot = options.boot ?? supervisorControl();
    this.hostOta = createHostOta({
      config: options.config,
      dataDir: options.dataDir,
      registry: this.registry,
      host: this.host,
      shadow: this.shadow,
      boot,
      logger: log.child("ota"),
    });
    registerBootMethods(this.registry, boot, this.hostOta);
    this.configServices = setupConfig({
      registry: this.registry,
      auth: this.auth,
      deviceId: this.deviceId,
      logger: log,
      store: options.store ?? ConfigStore.open({ dataDir: options.dataDir, overrides: options.config }),
      reboot: options.reboot,
      devices: options.devices ?? {},
    });
    // The cloud connection is what provisioning's state 3 (cloud connected) means.
    const provisioning = this.configServices.provisioning;
    this.mqtt?.on("up", () => {
      provisioning.cloudConnected(true);
    });
    this.mqtt?.on("down", () => {
      provisioning.cloudConnected(false);
    });
    this.host.on("state", (state) => {
      if (state !== "up") return;
      try {
        this.host.notify("Sys.Init", { id: this.deviceId, app: "ccm", fw_version: VERSION });
      } catch (e) {
        log.debug(`Sys.Init not sent: ${errorMessage(e)}`);
      }
    });
    this.host.on("ready", (info) => {
      this.shadow?.resendPending();
      const methods = info.methods === null ? "no RPC.List" : `${info.methods.length} methods`;
      log.info(
        `host ready: ${info.sys_info === null ? "no Sys.Info" : JSON.stringify(info.sys_info)}; ${methods}`,
      );
    });
  }

  /**
   * Starts serving: opens the host UART (retrying until it opens) and the RPC channels.
   * Rejects when the HTTP address cannot be bound or the MQTT settings are unusable, having
   * stopped what it had started.
   */
  async start(): Promise<void> {
    this.logger.info(`ccm ${this.deviceId} starting; host port ${this.config.host.port || "(none)"}`);
    try {
      await this.channels.start();
      this.mqtt?.start();
      this.directMethods?.start();
      this.dash?.start();
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.host.start();
    if (this.rpcUart !== undefined) {
      this.logger.info(`RPC over serial on ${this.config.rpc.uart.port}`);
      this.rpcUart.link.start();
    }
    this.configServices.start();
    this.shadow?.start();
    this.hostOta?.start();
  }

  /** Where the HTTP/WebSocket RPC server listens, once started: `http://127.0.0.1:8000`. */
  get httpUrl(): string | undefined {
    const a = this.channels.http?.address;
    if (a === undefined) return undefined;
    return `http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /** Stops everything it started. */
  async stop(): Promise<void> {
    await this.hostOta?.stop();
    await this.configServices.stop();
    await this.host.stop();
    await this.rpcUart?.link.stop();
    await this.channels.stop();
    this.shadow?.stop();
    this.directMethods?.stop();
    await this.dash?.stop();
    await this.mqttBridge?.stop();
    await this.mqtt?.stop();
    this.logger.info("stopped");
  }
}
