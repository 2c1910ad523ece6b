/**
 * mqtt.js connect options from the `mqtt.*` config: TLS and mutual TLS from PEM files, ALPN
 * `x-amzn-mqtt-ca` on port 443 (AWS IoT's MQTT over 443), the last will, credentials.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { IClientOptions } from "mqtt";
import type { CcmConfig } from "../config/schema.js";
import { CcmError, errorMessage } from "../errors.js";

/** The will's payload when `mqtt.will_message` is empty: the status topic reads `offline`. */
export const OFFLINE = "offline";
/** Published (with the will's retain flag) to the will topic on every connect. */
export const ONLINE = "online";

function pem(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new CcmError("CONFIG_INVALID", `${key}: cannot read ${file}: ${errorMessage(e)}`);
  }
}

/** The broker URL: `mqtts://` when a CA or client certificate is configured or the server says so. */
export function brokerUrl(c: CcmConfig["mqtt"]): string {
  const server = c.server.trim();
  if (server === "") throw new CcmError("CONFIG_INVALID", "mqtt.server is empty: give HOST:PORT");
  if (/^[a-z]+:\/\//i.test(server)) return server;
  const tls = c.ssl_ca !== "" || c.ssl_cert !== "";
  const port = /:\d+$/.test(server) ? "" : tls ? ":8883" : ":1883";
  return `${tls ? "mqtts" : "mqtt"}://${server}${port}`;
}

/** Everything mqtt.js needs besides the URL. */
export function connectOptions(c: CcmConfig["mqtt"], clientId: string): IClientOptions {
  const o: IClientOptions = {
    clientId,
    keepalive: c.keepalive,
    clean: c.clean_session,
    reconnectPeriod: c.reconnect_min_ms,
    connectTimeout: 10_000,
    resubscribe: false,
    protocolVersion: c.protocol_version === 5 ? 5 : 4,
  };
  // In MQTT 5 a session ends with the connection unless it is given an expiry.
  if (c.protocol_version === 5 && !c.clean_session)
    o.properties = { sessionExpiryInterval: c.session_expiry };
  if (c.user !== "") o.username = c.user;
  if (c.pass !== "") o.password = c.pass;
  if (c.ssl_ca !== "") o.ca = pem(c.ssl_ca, "mqtt.ssl_ca");
  if (c.ssl_cert !== "") {
    o.cert = pem(c.ssl_cert, "mqtt.ssl_cert");
    if (c.ssl_key === "") throw new CcmError("CONFIG_INVALID", "mqtt.ssl_cert needs mqtt.ssl_key");
    o.key = pem(c.ssl_key, "mqtt.ssl_key");
  }
  const url = new URL(brokerUrl(c));
  if (url.protocol === "mqtts:") {
    o.rejectUnauthorized = true;
    // SNI takes host names only (RFC 6066 §3; Node warns, DEP0123): an address is checked as given.
    if (isIP(url.hostname) === 0) o.servername = url.hostname;
    // AWS IoT takes MQTT on 443 only with this ALPN protocol name.
    if (url.port === "443") o.ALPNProtocols = ["x-amzn-mqtt-ca"];
  }
  if (c.will_topic !== "") {
    o.will = {
      topic: c.will_topic,
      payload: Buffer.from(c.will_message === "" ? OFFLINE : c.will_message),
      qos: 1,
      retain: c.will_retain,
    };
  }
  return o;
}
