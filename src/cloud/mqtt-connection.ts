/**
 * The CCM's one MQTT connection (config `mqtt.*`), shared by the MQTT RPC channel and, later, the
 * cloud services: reconnects by itself and subscribes every filter again after each connect.
 */
import { EventEmitter } from "node:events";
import mqtt, { type MqttClient } from "mqtt";
import type { CcmConfig } from "../config/schema.js";
import { CcmError, errorMessage } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { Backoff } from "../util/backoff.js";
import { ONLINE, brokerUrl, connectOptions } from "./mqtt-options.js";

export interface MqttConnectionEvents {
  /** Connected, and every filter subscribed (SUBACKs in). */
  up: [];
  down: [reason: string];
  message: [topic: string, payload: Buffer];
}

/** An MQTT client connection that keeps itself up. */
export class MqttConnection extends EventEmitter<MqttConnectionEvents> {
  private client: MqttClient | undefined;
  private readonly filters = new Map<string, 0 | 1>();
  private readonly config: CcmConfig["mqtt"];
  private readonly clientId: string;
  private readonly logger: Logger;
  private subscribed = false;
  /** The last connection error (TLS refusal, bad credentials…), empty once connected. */
  lastError = "";

  private readonly password: (() => string | undefined) | undefined;

  /**
   * `password`, when given, is asked before every connect (a short-lived token such as Azure's SAS
   * token is made fresh each time) and replaces mqtt.pass.
   */
  constructor(
    config: CcmConfig["mqtt"],
    deviceId: string,
    logger: Logger,
    o: { password?: () => string | undefined } = {},
  ) {
    super();
    this.config = config;
    this.password = o.password;
    this.clientId = config.client_id === "" ? deviceId : config.client_id;
    this.logger = logger;
  }

  /** Whether the broker is reachable now and every filter is subscribed. */
  get connected(): boolean {
    return this.client?.connected === true && this.subscribed;
  }

  /**
   * Starts connecting; never throws for an unreachable broker (it keeps trying, with jittered
   * exponential backoff from mqtt.reconnect_min_ms to reconnect_max_ms). Throws CONFIG_INVALID for
   * unusable settings (no server, a certificate file that cannot be read).
   */
  start(): void {
    const c = this.config;
    const url = brokerUrl(c);
    const options = connectOptions(c, this.clientId);
    const fresh = this.password?.();
    if (fresh !== undefined) options.password = fresh;
    const backoff = new Backoff(c.reconnect_min_ms, c.reconnect_max_ms);
    this.client = mqtt.connect(url, options);
    const client = this.client;
    client.on("connect", () => {
      backoff.reset();
      this.lastError = "";
      client.options.reconnectPeriod = c.reconnect_min_ms;
      this.logger.info(`connected to ${url} as ${this.clientId}`);
      if (c.will_topic !== "") client.publish(c.will_topic, ONLINE, { qos: 1, retain: c.will_retain });
      const filters = Object.fromEntries([...this.filters].map(([f, qos]) => [f, { qos }]));
      if (this.filters.size === 0) {
        this.subscribed = true;
        this.emit("up");
        return;
      }
      client.subscribe(filters, (e) => {
        if (e !== null) {
          this.logger.warn(`cannot subscribe ${[...this.filters.keys()].join(", ")}: ${errorMessage(e)}`);
          return;
        }
        this.subscribed = true;
        this.emit("up");
      });
    });
    // Before mqtt.js's own close handler, which schedules the next attempt with reconnectPeriod:
    // make that attempt back off, jittered.
    client.prependListener("close", () => {
      client.options.reconnectPeriod = backoff.next();
      const again = this.password?.();
      if (again !== undefined) client.options.password = again;
      if (!this.subscribed) return;
      this.subscribed = false;
      this.emit("down", `${url} closed`);
    });
    client.on("error", (e) => {
      if (this.lastError !== errorMessage(e)) this.logger.warn(`${url}: ${errorMessage(e)}`);
      this.lastError = errorMessage(e);
    });
    client.on("message", (topic, payload) => {
      this.emit("message", topic, payload);
    });
  }

  /**
   * Subscribes `filter` now (if connected) and after every reconnect; resolves when the broker has
   * acknowledged it, or at once while offline (it is subscribed on connecting). Never rejects: a
   * subscription the connection lost on the way is made again on the next connect.
   */
  async subscribe(filter: string, qos: 0 | 1): Promise<void> {
    this.filters.set(filter, qos);
    if (this.client?.connected !== true) return;
    try {
      await this.client.subscribeAsync(filter, { qos });
    } catch (e) {
      this.logger.debug(`subscribe ${filter}: ${errorMessage(e)}; again on the next connect`);
    }
  }

  /** Stops receiving `filter` (unless it is subscribed again). */
  unsubscribe(filter: string): void {
    if (!this.filters.delete(filter)) return;
    if (this.client?.connected === true) this.client.unsubscribe(filter);
  }

  /** Publishes; QoS 1 messages published while offline are sent after reconnecting (mqtt.js queue). */
  publish(topic: string, payload: string | Buffer, qos: 0 | 1, retain = false): void {
    this.client?.publish(topic, payload, { qos, retain });
  }

  /**
   * Publishes at QoS 1 and calls `done` with the broker's PUBACK (or the error that replaced it), as
   * mqtt.js does: a message in flight when the connection drops is sent again after reconnecting.
   */
  publishQos1(topic: string, payload: string | Buffer, retain: boolean, done: (error?: Error) => void): void {
    const client = this.client;
    if (client?.connected !== true) {
      done(new CcmError("LINK_DOWN", "MQTT broker not connected"));
      return;
    }
    client.publish(topic, payload, { qos: 1, retain }, (e) => {
      // mqtt.js says "no error" with null, whatever its types say.
      done(e ?? undefined);
    });
  }

  /** Disconnects and stops reconnecting. */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) await client.endAsync(true);
  }
}
