/**
 * Azure IoT Hub credentials (reference peers.md §6.1): the device connection string, SAS tokens
 * derived from the device key, and the MQTT settings IoT Hub requires (client id = device id,
 * user name `{hub}/{device}/?api-version=…`, password = a SAS token, TLS on 8883).
 */
import { createHmac } from "node:crypto";
import type { CcmConfig } from "../config/schema.js";
import { CcmError } from "../errors.js";

/** The API version IoT Hub's MQTT user name names. */
export const AZURE_API_VERSION = "2021-04-12";

/** The parts of `HostName=…;DeviceId=…;SharedAccessKey=…` (or `x509=true`). */
export interface AzureConnectionString {
  hostName: string;
  deviceId: string;
  moduleId?: string;
  sharedAccessKey?: string;
  x509: boolean;
}

/** Parses a device (or module) connection string; throws CONFIG_INVALID naming what is missing. */
export function parseConnectionString(cs: string): AzureConnectionString {
  const fields = new Map<string, string>();
  for (const part of cs.split(";")) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    if (eq <= 0) throw new CcmError("CONFIG_INVALID", `azure connection string: "${part}" is not key=value`);
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const hostName = fields.get("hostname");
  const deviceId = fields.get("deviceid");
  if (hostName === undefined || hostName === "")
    throw new CcmError("CONFIG_INVALID", "azure connection string: HostName is missing");
  if (deviceId === undefined || deviceId === "")
    throw new CcmError("CONFIG_INVALID", "azure connection string: DeviceId is missing");
  const key = fields.get("sharedaccesskey");
  const x509 = fields.get("x509")?.toLowerCase() === "true";
  if ((key === undefined || key === "") && !x509)
    throw new CcmError("CONFIG_INVALID", "azure connection string: needs SharedAccessKey or x509=true");
  const out: AzureConnectionString = { hostName, deviceId, x509 };
  const moduleId = fields.get("moduleid");
  if (moduleId !== undefined && moduleId !== "") out.moduleId = moduleId;
  if (key !== undefined && key !== "") out.sharedAccessKey = key;
  return out;
}

/**
 * `SharedAccessSignature sr=…&sig=…&se=…[&skn=…]`: sig = base64(HMAC-SHA256(base64decode(key),
 * urlencode(resourceUri) + "\n" + expiry)), URL-encoded.
 */
export function sasToken(o: {
  resourceUri: string;
  key: string;
  /** Epoch seconds. */
  expiry: number;
  policyName?: string;
}): string {
  const sr = encodeURIComponent(o.resourceUri);
  const sig = createHmac("sha256", Buffer.from(o.key, "base64"))
    .update(`${sr}\n${o.expiry}`)
    .digest("base64");
  const skn = o.policyName === undefined ? "" : `&skn=${encodeURIComponent(o.policyName)}`;
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${o.expiry}${skn}`;
}

/** Who the CCM is to its hub, from `azure.*` (a connection string wins over the separate keys). */
export interface AzureIdentity {
  hostName: string;
  deviceId: string;
  moduleId?: string;
  /** Absent: X.509 (mqtt.ssl_cert / ssl_key) authenticates the device. */
  key?: string;
}

/** The hub identity `azure.*` configures; `deviceId` is the CCM's id when azure.device_id is empty. */
export function azureIdentity(c: CcmConfig["azure"], deviceId: string): AzureIdentity {
  if (c.cs !== "") {
    const cs = parseConnectionString(c.cs);
    const id: AzureIdentity = { hostName: cs.hostName, deviceId: cs.deviceId };
    if (cs.moduleId !== undefined) id.moduleId = cs.moduleId;
    if (cs.sharedAccessKey !== undefined) id.key = cs.sharedAccessKey;
    return id;
  }
  if (c.host_name === "")
    throw new CcmError("CONFIG_INVALID", "azure.enable needs azure.cs or azure.host_name");
  const id: AzureIdentity = { hostName: c.host_name, deviceId: c.device_id === "" ? deviceId : c.device_id };
  if (c.access_key !== "") id.key = c.access_key;
  return id;
}

/** `{deviceId}` or `{deviceId}/{moduleId}`: the MQTT client id and the twin's owner. */
export function azureClientId(id: AzureIdentity): string {
  return id.moduleId === undefined ? id.deviceId : `${id.deviceId}/${id.moduleId}`;
}

/** The resource URI a device's SAS token is scoped to. */
export function azureResourceUri(id: AzureIdentity): string {
  const base = `${id.hostName}/devices/${id.deviceId}`;
  return id.moduleId === undefined ? base : `${base}/modules/${id.moduleId}`;
}

/**
 * The `mqtt.*` settings for the hub: TLS on `{host}:8883` unless mqtt.server names another address
 * (a gateway, a test hub), client id and user name as IoT Hub requires, no password here (a fresh
 * SAS token is made for every connect by {@link azurePassword}).
 */
export function azureMqttConfig(mqtt: CcmConfig["mqtt"], id: AzureIdentity): CcmConfig["mqtt"] {
  const server = mqtt.server === "" ? `mqtts://${id.hostName}:8883` : mqtt.server;
  const tlsServer = /^[a-z]+:\/\//i.test(server) ? server : `mqtts://${server}`;
  if (!tlsServer.startsWith("mqtts://"))
    throw new CcmError("CONFIG_INVALID", `Azure IoT Hub needs TLS: mqtt.server ${server} is not mqtts://`);
  if (id.key === undefined && mqtt.ssl_cert === "")
    throw new CcmError(
      "CONFIG_INVALID",
      "azure: no SharedAccessKey, so X.509 it is: set mqtt.ssl_cert and mqtt.ssl_key",
    );
  return {
    ...mqtt,
    enable: true,
    server: tlsServer,
    client_id: azureClientId(id),
    user: `${id.hostName}/${azureClientId(id)}/?api-version=${AZURE_API_VERSION}`,
    pass: "",
    // IoT Hub caps the keepalive at 1177 s (peers.md §6.1).
    keepalive: Math.min(mqtt.keepalive, 1177),
  };
}

/** A SAS token valid for `ttlSeconds` from `now` (ms), or undefined for X.509 devices. */
export function azurePassword(id: AzureIdentity, now: number, ttlSeconds: number): string | undefined {
  if (id.key === undefined) return undefined;
  return sasToken({
    resourceUri: azureResourceUri(id),
    key: id.key,
    expiry: Math.floor(now / 1000) + ttlSeconds,
  });
}
