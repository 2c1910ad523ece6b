/**
 * The remote RPC channels the config asks for: the HTTP/WebSocket server (`rpc.http`, `rpc.ws`),
 * and RPC over the daemon's MQTT connection (`rpc.mqtt.enable`).
 */
import type { AddressInfo } from "node:net";
import { CcmHttpServer } from "../channels/http-server.js";
import { MqttRpcChannel } from "../channels/mqtt-rpc.js";
import type { MqttConnection } from "../cloud/mqtt-connection.js";
import type { CcmConfig } from "../config/schema.js";
import type { Logger } from "../log/logger.js";
import type { RpcAuth } from "../rpc/auth.js";
import type { RpcServer } from "../rpc/server.js";

/** The network channels of one daemon. */
export class RpcChannels {
  readonly http: CcmHttpServer | undefined;
  readonly mqttRpc: MqttRpcChannel | undefined;
  private readonly logger: Logger;

  constructor(o: {
    config: CcmConfig;
    deviceId: string;
    server: RpcServer;
    auth: RpcAuth;
    mqtt: MqttConnection | undefined;
    logger: Logger;
  }) {
    this.logger = o.logger;
    const rpc = o.config.rpc;
    if (rpc.http.enable) {
      this.http = new CcmHttpServer({
        listen: rpc.http.listen,
        server: o.server,
        auth: o.auth,
        maxFrame: rpc.max_frame,
        ws: rpc.ws.enable,
      });
    }
    const mqtt = o.mqtt;
    if (mqtt !== undefined) {
      // IoT Hub refuses other topics: direct methods are its RPC channel.
      if (rpc.mqtt.enable && !o.config.azure.enable) {
        const qos = rpc.mqtt.qos === 0 ? 0 : 1;
        const channel = new MqttRpcChannel({
          deviceId: o.deviceId,
          server: o.server,
          publish: (topic, payload) => {
            mqtt.publish(topic, payload, qos);
          },
          onDrop: (reason) => {
            o.logger.debug(`MQTT RPC: dropped ${reason}`);
          },
        });
        this.mqttRpc = channel;
        for (const t of channel.topics()) void mqtt.subscribe(t, qos);
        mqtt.on("message", (topic, payload) => {
          if (channel.matches(topic)) channel.receive(topic, payload);
        });
      }
    }
  }

  /** Starts listening; rejects when the HTTP address cannot be bound. */
  async start(): Promise<void> {
    if (this.http !== undefined) {
      const a: AddressInfo = await this.http.listen();
      this.logger.info(`RPC over HTTP and WebSocket on http://${hostPort(a)}/rpc`);
    }
    if (this.mqttRpc !== undefined) this.logger.info(`RPC over MQTT on ${this.mqttRpc.topics().join(", ")}`);
  }

  /** Closes every channel. */
  async stop(): Promise<void> {
    await this.http?.close();
  }
}

function hostPort(a: AddressInfo): string {
  return a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
