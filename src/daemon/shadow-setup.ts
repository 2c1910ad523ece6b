/** Picks the shadow's keeper from the config: mDash, Azure IoT Hub, AWS IoT, or the CCM itself. */
import type { MqttConnection } from "../cloud/mqtt-connection.js";
import type { CcmConfig } from "../config/schema.js";
import type { Logger } from "../log/logger.js";
import type { MethodRegistry } from "../rpc/registry.js";
import { AwsShadowClient } from "../shadow/aws-client.js";
import { AzureTwin } from "../shadow/azure-twin.js";
import { DashShadow, type DashConnection } from "../cloud/dash.js";
import { PrivateShadow } from "../shadow/private-shadow.js";
import { ShadowService, defaultShadowPrefix } from "../shadow/service.js";
import type { HostInbox } from "./host-inbox.js";

/** The shadow service the config asks for, or undefined with `shadow.enable=false`. */
export function createShadow(o: {
  config: CcmConfig;
  deviceId: string;
  dataDir: string;
  registry: MethodRegistry;
  mqtt: MqttConnection | undefined;
  dash: DashConnection | undefined;
  inbox: HostInbox;
  logger: Logger;
}): ShadowService | undefined {
  const c = o.config;
  if (!c.shadow.enable) return undefined;
  const thing = c.aws.thing_name === "" ? o.deviceId : c.aws.thing_name;
  const prefix = c.shadow.topic_prefix === "" ? defaultShadowPrefix(thing) : c.shadow.topic_prefix;
  const backend =
    o.dash !== undefined
      ? new DashShadow(o.dash)
      : c.azure.enable && o.mqtt !== undefined
        ? new AzureTwin({ mqtt: o.mqtt, logger: o.logger })
        : c.aws.enable && o.mqtt !== undefined
          ? new AwsShadowClient({ mqtt: o.mqtt, prefix, logger: o.logger })
          : new PrivateShadow({
              dataDir: o.dataDir,
              prefix,
              limits: { maxBytes: c.shadow.max_bytes, maxDepth: c.shadow.max_depth },
              mqtt: o.mqtt,
              logger: o.logger,
            });
  o.logger.info(
    `shadow: ${backend.kind}${backend.kind === "private" || backend.kind === "aws" ? ` on ${prefix}` : ""}`,
  );
  return new ShadowService({
    backend,
    registry: o.registry,
    deliver: (method, params) => {
      o.inbox.deliver(method, params);
    },
    logger: o.logger,
  });
}
