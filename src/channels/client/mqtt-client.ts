/**
 * `--port mqtt://[user:pass@]broker[:port]/DEVICE_ID`: frames published to `<DEVICE_ID>/rpc`, answers
 * read from `<src>/rpc` with `src = <DEVICE_ID>/rpc-resp/<clientId>`, exactly as mos does (§5).
 */
import { randomInt } from "node:crypto";
import mqtt from "mqtt";
import { CcmError, errorMessage } from "../../errors.js";
import type { Credentials } from "../../rpc/auth-client.js";
import { RpcPeer } from "../../rpc/peer.js";
import { decodePortPart, parsePortUrl } from "./port-url.js";
import { callWithFrameAuth, type RpcClient } from "./rpc-client.js";

/** Connects to the broker named in `url` and calls the device named by its path. */
export async function connectMqtt(
  url: string,
  o: { timeoutMs: number; creds?: Credentials },
): Promise<RpcClient> {
  const target = parsePortUrl(url);
  const deviceId = decodePortPart(target.pathname.replace(/^\//, ""), "device id");
  if (deviceId === "") {
    throw new CcmError("BAD_ARGUMENT", `${url}: name the device: mqtt://broker[:port]/DEVICE_ID`);
  }
  const clientId = `ccm-${randomInt(1, 2 ** 31)}`;
  const src = `${deviceId}/rpc-resp/${clientId}`;
  const secure = target.protocol === "mqtts:";
  const brokerUrl = `${secure ? "mqtts" : "mqtt"}://${target.hostname}:${target.port || (secure ? 8883 : 1883)}`;
  const login = {
    ...(target.username === "" ? {} : { username: decodePortPart(target.username, "user name") }),
    ...(target.password === "" ? {} : { password: decodePortPart(target.password, "password") }),
  };
  let client: mqtt.MqttClient;
  try {
    client = await mqtt.connectAsync(brokerUrl, {
      clientId,
      connectTimeout: o.timeoutMs,
      reconnectPeriod: 0,
      ...login,
    });
  } catch (e) {
    throw new CcmError("TRANSPORT_OPEN_FAILED", `cannot connect to ${brokerUrl}: ${errorMessage(e)}`, {
      cause: e,
    });
  }
  client.on("error", () => undefined);
  await client.subscribeAsync(`${src}/rpc`, { qos: 1 });
  let unsolicited = 0;
  const peer = new RpcPeer({
    send: (frame) => {
      if (!client.connected) throw new CcmError("LINK_DOWN", `${brokerUrl} is not connected`);
      client.publish(`${deviceId}/rpc`, JSON.stringify(frame), { qos: 1 });
    },
    timeoutMs: o.timeoutMs,
    jsonrpcMember: false,
    onProblem: (problem) => {
      if (problem === "unmatched-response") unsolicited++;
    },
  });
  client.on("message", (_topic, payload) => {
    peer.receiveText(payload.toString("utf8"));
  });
  client.on("close", () => {
    peer.close(`${brokerUrl} closed`);
  });
  return {
    call: (method, params, options = {}) =>
      callWithFrameAuth(peer, method, params, { ...options, envelope: { src, dst: deviceId } }, o.creds),
    notify: (method, params) => {
      peer.notify(method, params, { src, dst: deviceId });
      return Promise.resolve();
    },
    close: async () => {
      await client.endAsync();
    },
    get unsolicited() {
      return unsolicited;
    },
  };
}
