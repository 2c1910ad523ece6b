/**
 * A local Azure IoT Hub for tests and offline development, faithful to the device side of the
 * MQTT protocol as reference peers.md §6 describes it (no Azure account needed, no internet):
 * - TLS only; client id = device id; user name `{hub}/{device}/?api-version=…`; password a SAS
 *   token checked against the device's key (resource, expiry, signature), or X.509 by thumbprint.
 * - Only the device topics IoT Hub allows: a publish elsewhere, or with QoS 2, closes the
 *   connection; a subscription elsewhere is refused (SUBACK 0x80); at most 5 subscriptions; QoS 2
 *   subscriptions are delivered at QoS 1 (the SUBACK still says 2: aedes fixes the granted QoS
 *   before the authorization hook runs).
 * - Device twins (kept by `TwinStore`, azure-twin-store.ts): GET, reported PATCH (204 + new
 *   `$version`), desired patches from the back end (`updateDesired`) pushed with their `$version`;
 *   null deletes; `$metadata.$lastUpdated` at every level; key, depth and size rules answered 400.
 * - Direct methods from the back end (`invokeMethod`): 404 when the device is offline, 504 when it
 *   does not answer within the timeout, otherwise the device's status and payload.
 * - Telemetry (`devices/{id}/messages/events/…`) and cloud-to-device messages.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { EventEmitter } from "node:events";
import type { AddressInfo } from "node:net";
import { createServer, type Server, type TLSSocket } from "node:tls";
import { Aedes, type Client } from "aedes";
import { AZURE_API_VERSION } from "../cloud/azure-auth.js";
import { TwinStore, type JsonObject } from "./azure-twin-store.js";

export interface SimDevice {
  deviceId: string;
  /** Base64 symmetric key: SAS tokens must be signed with it. */
  primaryKey?: string;
  /** SHA-1 fingerprint of the device certificate (`AB:CD:…`), for X.509 authentication. */
  x509Thumbprint?: string;
}

export interface AzureHubSimOptions {
  /** The hub name devices put in their user name and SAS resource: `myhub.azure-devices.net`. */
  hostName: string;
  tls: { key: Buffer | string; cert: Buffer | string; ca?: Buffer | string };
  devices: SimDevice[];
  host?: string;
  port?: number;
}

export interface HubEvents {
  connected: [deviceId: string];
  disconnected: [deviceId: string];
  telemetry: [deviceId: string, topic: string, payload: Buffer];
  refused: [deviceId: string, what: string];
}

const MAX_SUBSCRIPTIONS = 5;

function verifySas(token: string, resource: string, key: string, now: number): string | undefined {
  if (!token.startsWith("SharedAccessSignature ")) return "the password is not a SharedAccessSignature";
  const fields = new URLSearchParams(token.slice("SharedAccessSignature ".length));
  const sr = fields.get("sr");
  const sig = fields.get("sig");
  const se = Number(fields.get("se"));
  if (sr === null || sig === null || !Number.isFinite(se)) return "sr, sig or se is missing";
  if (sr.toLowerCase() !== resource.toLowerCase()) return `the token is for ${sr}, not ${resource}`;
  if (se * 1000 <= now) return "the token has expired";
  const want = createHmac("sha256", Buffer.from(key, "base64"))
    .update(`${encodeURIComponent(sr)}\n${se}`)
    .digest();
  const got = Buffer.from(sig, "base64");
  if (got.length !== want.length || !timingSafeEqual(got, want)) return "the signature is wrong";
  return undefined;
}

interface PendingMethod {
  resolve: (r: { status: number; payload: unknown }) => void;
  timer: NodeJS.Timeout;
}

/** A running hub. */
export class AzureIotHubSim extends EventEmitter<HubEvents> {
  readonly hostName: string;
  port = 0;
  /** Every publish, subscription and refusal, in order (for tests to assert on). */
  readonly log: string[] = [];
  private readonly aedes: Aedes;
  private readonly server: Server;
  private readonly devices = new Map<string, SimDevice>();
  private readonly twins: TwinStore;
  private readonly clients = new Map<string, Client>();
  private readonly subscriptions = new Map<Client, Set<string>>();
  private readonly pending = new Map<string, PendingMethod>();
  private nextRid = 1;
  private readonly host: string;
  private readonly requestedPort: number;

  private constructor(o: AzureHubSimOptions, aedes: Aedes) {
    super();
    this.hostName = o.hostName;
    this.host = o.host ?? "127.0.0.1";
    this.requestedPort = o.port ?? 0;
    for (const d of o.devices) this.devices.set(d.deviceId, d);
    this.twins = new TwinStore((id) => this.devices.has(id));
    this.aedes = aedes;
    this.server = createServer(
      {
        key: o.tls.key,
        cert: o.tls.cert,
        ...(o.tls.ca === undefined ? {} : { ca: o.tls.ca }),
        requestCert: true,
        rejectUnauthorized: false,
      },
      (socket) => {
        aedes.handle(socket);
      },
    );
  }

  /** Starts a hub listening with TLS on host:port (port 0: any free port). */
  static async start(o: AzureHubSimOptions): Promise<AzureIotHubSim> {
    const aedes = await Aedes.createBroker();
    const hub = new AzureIotHubSim(o, aedes);
    hub.install();
    await new Promise<void>((resolve, reject) => {
      hub.server.once("error", reject);
      hub.server.listen(hub.requestedPort, hub.host, resolve);
    });
    hub.port = (hub.server.address() as AddressInfo).port;
    return hub;
  }

  /** `mqtts://127.0.0.1:PORT`. */
  get url(): string {
    return `mqtts://${this.host}:${this.port}`;
  }

  /** Whether the device is connected now. */
  online(deviceId: string): boolean {
    return this.clients.has(deviceId);
  }

  /** The device's twin as the service side sees it (with `$version` and `$metadata`). */
  getTwin(deviceId: string): { properties: { desired: JsonObject; reported: JsonObject } } {
    return this.twins.serviceView(deviceId);
  }

  /** The back end patches desired properties; a connected device gets the patch with its `$version`. */
  updateDesired(deviceId: string, patch: JsonObject): number {
    const version = this.twins.patchDesired(deviceId, patch);
    const client = this.clients.get(deviceId);
    if (client !== undefined && this.subscribed(client, "$iothub/twin/PATCH/properties/desired/#"))
      this.send(
        client,
        `$iothub/twin/PATCH/properties/desired/?$version=${version}`,
        JSON.stringify({ ...patch, $version: version }),
        1,
      );
    return version;
  }

  /**
   * Invokes a direct method as the service SDK does: `{status, payload}`; 404 when the device is
   * offline or has not subscribed to methods; 504 after `responseTimeoutInSeconds` (30 s; 5–300).
   */
  invokeMethod(
    deviceId: string,
    methodName: string,
    payload: unknown,
    responseTimeoutInSeconds = 30,
  ): Promise<{ status: number; payload: unknown }> {
    const client = this.clients.get(deviceId);
    if (client === undefined || !this.subscribed(client, "$iothub/methods/POST/#"))
      return Promise.resolve({ status: 404, payload: { message: `device ${deviceId} is not online` } });
    const timeout = Math.min(300, Math.max(5, responseTimeoutInSeconds));
    const rid = String(this.nextRid++);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        resolve({ status: 504, payload: { message: "timed out waiting for the device to answer" } });
      }, timeout * 1000);
      this.pending.set(rid, { resolve, timer });
      this.send(
        client,
        `$iothub/methods/POST/${methodName}/?$rid=${rid}`,
        JSON.stringify(payload ?? null),
        0,
      );
    });
  }

  /** Sends a cloud-to-device message. */
  sendC2D(deviceId: string, payload: string): void {
    const client = this.clients.get(deviceId);
    if (client !== undefined) this.send(client, `devices/${deviceId}/messages/devicebound/`, payload, 1);
  }

  async close(): Promise<void> {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    await new Promise<void>((resolve) => {
      this.aedes.close(() => {
        resolve();
      });
    });
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  /** Drops the device's connection as the hub does when it restarts. */
  kick(deviceId: string): void {
    this.clients.get(deviceId)?.close();
  }

  private subscribed(client: Client, filter: string): boolean {
    return this.subscriptions.get(client)?.has(filter) === true;
  }

  private send(client: Client, topic: string, payload: string, qos: 0 | 1): void {
    this.log.push(`hub → ${client.id}: ${topic}`);
    client.publish(
      { cmd: "publish", topic, payload: Buffer.from(payload), qos, retain: false, dup: false },
      () => undefined,
    );
  }

  private allowedFilters(deviceId: string): string[] {
    return [
      "$iothub/twin/res/#",
      "$iothub/twin/PATCH/properties/desired/#",
      "$iothub/methods/POST/#",
      `devices/${deviceId}/messages/devicebound/#`,
    ];
  }

  private install(): void {
    const a = this.aedes;
    a.authenticate = (client, username, password, done) => {
      const fail = (why: string, code: 4 | 5): void => {
        this.log.push(`refused ${client.id}: ${why}`);
        this.emit("refused", client.id, why);
        const e = new Error(why) as Error & { returnCode: number };
        e.returnCode = code;
        done(e, false);
      };
      const device = this.devices.get(client.id);
      if (device === undefined) {
        fail(`device ${client.id} is not registered`, 5);
        return;
      }
      const wantUser = `${this.hostName}/${client.id}/?api-version=`;
      if (
        username === undefined ||
        !username.startsWith(wantUser) ||
        !username.includes(AZURE_API_VERSION.slice(0, 4))
      ) {
        fail(`user name must be ${wantUser}${AZURE_API_VERSION}`, 4);
        return;
      }
      if (password !== undefined && password.length > 0) {
        if (device.primaryKey === undefined) {
          fail("the device has no symmetric key", 5);
          return;
        }
        const why = verifySas(
          password.toString(),
          `${this.hostName}/devices/${client.id}`,
          device.primaryKey,
          Date.now(),
        );
        if (why !== undefined) {
          fail(why, 4);
          return;
        }
      } else {
        const socket = client.conn as unknown as TLSSocket;
        const cert =
          typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate() : undefined;
        const print = cert?.fingerprint;
        if (device.x509Thumbprint === undefined || print === undefined || print !== device.x509Thumbprint) {
          fail("no SAS token and no client certificate with the registered thumbprint", 5);
          return;
        }
      }
      done(null, true);
    };
    a.authorizeSubscribe = (client, sub, done) => {
      const subs = this.subscriptions.get(client) ?? new Set<string>();
      this.subscriptions.set(client, subs);
      if (!this.allowedFilters(client.id).includes(sub.topic)) {
        this.log.push(`refused subscription ${client.id}: ${sub.topic}`);
        this.emit("refused", client.id, `subscribe ${sub.topic}`);
        done(null, null);
        return;
      }
      if (!subs.has(sub.topic) && subs.size >= MAX_SUBSCRIPTIONS) {
        this.emit("refused", client.id, `more than ${MAX_SUBSCRIPTIONS} subscriptions`);
        done(null, null);
        return;
      }
      subs.add(sub.topic);
      this.log.push(`${client.id} subscribed ${sub.topic}`);
      done(null, { ...sub, qos: sub.qos === 2 ? 1 : sub.qos });
    };
    a.authorizePublish = (client, packet, done) => {
      if (client === null) {
        done(null);
        return;
      }
      const id = client.id;
      const topic = packet.topic;
      this.log.push(`${id} → hub: ${topic}`);
      if (packet.qos === 2) {
        this.emit("refused", id, "QoS 2 publish");
        done(new Error("IoT Hub does not support QoS 2"));
        return;
      }
      const reply = (status: number, props: string, body: string): void => {
        this.send(client, `$iothub/twin/res/${status}/?${props}`, body, 0);
      };
      const rid = new URLSearchParams(topic.slice(topic.indexOf("?") + 1)).get("$rid") ?? "";
      const body = packet.payload.toString();
      if (topic.startsWith("$iothub/twin/GET/")) {
        reply(200, `$rid=${rid}`, JSON.stringify(this.twins.deviceView(id)));
      } else if (topic.startsWith("$iothub/twin/PATCH/properties/reported/")) {
        const r = this.twins.patchReported(id, body);
        if (r.status === 204) reply(204, `$rid=${rid}&$version=${r.version}`, "");
        else reply(400, `$rid=${rid}`, JSON.stringify(r.body));
      } else if (topic.startsWith("$iothub/methods/res/")) {
        const status = Number.parseInt(topic.slice("$iothub/methods/res/".length), 10);
        const p = this.pending.get(rid);
        if (p !== undefined) {
          this.pending.delete(rid);
          clearTimeout(p.timer);
          let payload: unknown;
          try {
            payload = body === "" ? null : JSON.parse(body);
          } catch {
            payload = body;
          }
          p.resolve({ status: Number.isInteger(status) ? status : 500, payload });
        }
      } else if (topic.startsWith(`devices/${id}/messages/events/`)) {
        this.emit("telemetry", id, topic, Buffer.from(packet.payload));
      } else {
        this.emit("refused", id, `publish ${topic}`);
        done(new Error(`IoT Hub does not allow publishing to ${topic}`));
        return;
      }
      done(null);
    };
    a.on("clientReady", (client) => {
      this.clients.set(client.id, client);
      this.emit("connected", client.id);
    });
    a.on("clientDisconnect", (client) => {
      this.subscriptions.delete(client);
      if (this.clients.get(client.id) === client) {
        this.clients.delete(client.id);
        this.emit("disconnected", client.id);
      }
    });
  }
}
