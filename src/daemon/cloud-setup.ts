/**
 * The MQTT connection the config asks for: `mqtt.*` as given, or, with `azure.enable`, the settings
 * Azure IoT Hub requires (TLS, its client id and user name, a fresh SAS token per connect) and the
 * topics it allows the host.
 */
import { isAbsolute, join } from "node:path";
import { azureIdentity, azureMqttConfig, azurePassword } from "../cloud/azure-auth.js";
import type { CcmConfig } from "../config/schema.js";
import { CcmError } from "../errors.js";

export interface CloudMqtt {
  mqtt: CcmConfig["mqtt"];
  /** Asked before every connect (Azure's SAS token). */
  password?: () => string | undefined;
  /** Refuses topics the cloud would refuse. */
  checkTopic?: (topic: string, op: "publish" | "subscribe") => void;
}

/** Certificate paths that are relative name files FS.Put wrote: they resolve in `fsDir`. */
function resolvePems(mqtt: CcmConfig["mqtt"], fsDir: string): CcmConfig["mqtt"] {
  const at = (f: string): string => (f === "" || isAbsolute(f) ? f : join(fsDir, f));
  return { ...mqtt, ssl_ca: at(mqtt.ssl_ca), ssl_cert: at(mqtt.ssl_cert), ssl_key: at(mqtt.ssl_key) };
}

/** The MQTT settings of the configured cloud; relative certificate paths resolve in `fsDir`. */
export function cloudMqtt(config: CcmConfig, deviceId: string, fsDir: string): CloudMqtt {
  const mqtt = resolvePems(config.mqtt, fsDir);
  if (!config.azure.enable) return { mqtt };
  const id = azureIdentity(config.azure, deviceId);
  const events = `devices/${id.deviceId}/messages/events/`;
  const c2d = `devices/${id.deviceId}/messages/devicebound/#`;
  const ttl = config.azure.sas_ttl;
  return {
    mqtt: azureMqttConfig(mqtt, id),
    password: () => azurePassword(id, Date.now(), ttl),
    checkTopic: (topic, op) => {
      if (op === "publish" && !topic.startsWith(events))
        throw new CcmError(
          "BAD_ARGUMENT",
          `Azure IoT Hub takes device messages only on ${events}… (it closes the connection otherwise): ${topic}`,
        );
      if (op === "subscribe" && topic !== c2d)
        throw new CcmError(
          "BAD_ARGUMENT",
          `Azure IoT Hub allows the device to subscribe only ${c2d}: ${topic}`,
        );
    },
  };
}
