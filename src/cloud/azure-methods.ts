/**
 * Azure IoT Hub direct methods (reference peers.md §6.4) as RPC calls: a request on
 * `$iothub/methods/POST/{method}/?$rid={rid}` with a JSON payload becomes a call of `method` with
 * that payload as params, served by the CCM or forwarded to the host like any other RPC; the result
 * (status 200) or the error `{code, message}` (status as the HTTP channel maps it: 404, 400, 401,
 * 403, 504, 500) is published to `$iothub/methods/res/{status}/?$rid={rid}`.
 */
import { restStatus } from "../channels/http-rpc.js";
import { RPC_INVALID_REQUEST } from "../errors.js";
import type { RpcServer } from "../rpc/server.js";
import { topicProperties } from "../shadow/azure-twin.js";
import type { MqttConnection } from "./mqtt-connection.js";

/** Channel type of direct-method callers, as ACLs name it. */
export const AZURE_CHANNEL = "AZURE";
export const METHODS_POST = "$iothub/methods/POST/";

/** Serves direct methods arriving on the hub connection. */
export class AzureDirectMethods {
  served = 0;
  private readonly mqtt: MqttConnection;
  private readonly server: RpcServer;
  private readonly onMessage = (topic: string, payload: Buffer): void => {
    if (topic.startsWith(METHODS_POST)) this.receive(topic, payload.toString("utf8"));
  };

  constructor(o: { mqtt: MqttConnection; server: RpcServer }) {
    this.mqtt = o.mqtt;
    this.server = o.server;
  }

  start(): void {
    void this.mqtt.subscribe(`${METHODS_POST}#`, 0);
    this.mqtt.on("message", this.onMessage);
  }

  stop(): void {
    this.mqtt.off("message", this.onMessage);
  }

  private receive(topic: string, text: string): void {
    const rest = topic.slice(METHODS_POST.length);
    const slash = rest.indexOf("/");
    const rid = topicProperties(topic).get("$rid") ?? "";
    const answer = (status: number, body: unknown): void => {
      this.mqtt.publish(`$iothub/methods/res/${status}/?$rid=${rid}`, JSON.stringify(body), 0);
    };
    let method: string;
    try {
      method = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
    } catch {
      answer(400, { code: RPC_INVALID_REQUEST, message: "the method name is not valid %-encoding" });
      return;
    }
    let params: unknown;
    try {
      params = text.trim() === "" ? undefined : JSON.parse(text);
    } catch {
      answer(400, { code: -32700, message: "parse error: the method's payload is not JSON" });
      return;
    }
    this.served++;
    const frame: Record<string, unknown> = { id: rid === "" ? 1 : rid, method };
    // An Azure call without payload sends `null`: that means no params, not params null.
    if (params !== undefined && params !== null) frame.params = params;
    this.server.handle(frame, { channel: AZURE_CHANNEL, peer: "iothub" }, (reply) => {
      const r = Array.isArray(reply) ? reply[0] : reply;
      if (r === undefined) return;
      if (r.error !== undefined && r.error.code !== 0) answer(restStatus(r.error.code), r.error);
      else answer(200, r.result ?? null);
    });
  }
}
