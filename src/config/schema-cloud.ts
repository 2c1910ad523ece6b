/** Config sections of the cloud connections: MQTT, AWS IoT, Azure IoT Hub, mDash. */
import Type from "typebox";
import { REBOOT, bool, int, secret, section, str } from "./schema-kit.js";

/** `mqtt`: the broker connection. */
export const MqttSection = section(
  {
    enable: bool(false, "Connect to an MQTT broker."),
    server: str("", "Broker as HOST:PORT (1883 if no port)."),
    client_id: str("", "MQTT client id; empty: the device id."),
    user: str("", "MQTT user name."),
    pass: secret("MQTT password."),
    keepalive: int(60, "Keepalive interval in seconds; 0 disables.", 0, 65535),
    clean_session: bool(true, "Start a clean session on every connect."),
    protocol_version: int(4, "MQTT protocol: 4 (3.1.1) or 5.", 4, 5),
    session_expiry: int(
      86400,
      "MQTT 5 with clean_session=false: seconds the broker keeps the session after a disconnect.",
      0,
      4294967295,
    ),
    ssl_ca: str("", "PEM file of the CA(s) the broker's certificate must chain to; set: TLS."),
    ssl_cert: str("", "PEM file of the client certificate (mutual TLS, e.g. AWS IoT)."),
    ssl_key: str("", "PEM file of the client certificate's private key.", { "x-secret": true }),
    will_topic: str("", "Last-will topic; empty: no will."),
    will_message: str("", "Last-will message."),
    will_retain: bool(false, "Retain the last-will message."),
    reconnect_min_ms: int(1000, "First reconnect delay after the broker is lost.", 100, 3_600_000),
    reconnect_max_ms: int(60000, "Longest reconnect delay (it doubles up to this).", 100, 3_600_000),
    max_message: int(65536, "Largest message the host may publish with MQTT.Pub, in bytes.", 1, 268_435_455),
    queue_max: int(
      1000,
      "Most QoS 1 messages kept on disk until the broker acknowledges them (PUBACK); when full, the oldest are dropped and that is reported: in the MQTT.Pub answer (`dropped`), Sys.GetInfo `mqtt.stats.dropped_oldest` and the log.",
      1,
      10_000_000,
    ),
  },
  REBOOT,
);

/** `aws`: AWS IoT. */
export const AwsSection = section(
  {
    enable: bool(
      false,
      "Use AWS IoT: shadow on `$aws/things/<thing_name>/shadow/…` (set mqtt.* to the endpoint).",
    ),
    thing_name: str("", "AWS IoT thing name; empty: the device id."),
    region: str("", "AWS region of the IoT endpoint, e.g. eu-west-1."),
  },
  REBOOT,
);

/** `azure`: Azure IoT Hub. */
export const AzureSection = section(
  {
    enable: bool(false, "Use Azure IoT Hub: device twin and direct methods."),
    host_name: str("", "IoT Hub host name, e.g. myhub.azure-devices.net."),
    device_id: str("", "Device id registered in the hub; empty: the device id."),
    access_key: secret("Symmetric key of the device (SAS tokens are derived from it)."),
    cs: secret("Device connection string; overrides host_name, device_id and access_key when set."),
    sas_ttl: int(
      3600,
      "Lifetime of each SAS token in seconds (a fresh one is made for every connect).",
      60,
      31_536_000,
    ),
  },
  REBOOT,
);

/** `dash`: mDash. */
export const DashSection = section(
  {
    enable: bool(false, "Connect to mDash (shadow, remote RPC, OTA from the dashboard)."),
    server: str("wss://mdash.net/api/v2/rpc", "mDash RPC endpoint."),
    token: secret("Device access token from the dashboard."),
    ssl_ca: str(
      "",
      "PEM file of the CA(s) the dashboard's certificate must chain to; empty: the system's roots.",
    ),
    heartbeat_s: int(60, "Seconds between Dash.Heartbeat calls.", 5, 86400),
  },
  REBOOT,
);

/** Key prefixes nobody may change over RPC; only the vendor file and the command line set them. */
export const ConfigLockSection = section({
  lock: Type.Array(Type.String({ minLength: 1 }), {
    default: [],
    description:
      'Vendor lock: key prefixes (`"mqtt"`, `"dash.token"`) or `"*"` that Config.Set refuses on every channel and factory reset keeps. Read only from `--config` and `--set`.',
  }),
});

/** `shadow`: the device shadow, whichever cloud keeps it. */
export const ShadowSection = section(
  {
    enable: bool(true, "Keep a device shadow: Shadow.Report / Get / Update, Shadow.Delta to the host."),
    topic_prefix: str(
      "",
      "Shadow topics; empty: `$aws/things/<thing>/shadow` (thing: aws.thing_name or the device id).",
    ),
    max_bytes: int(8192, "Largest desired + reported state, in bytes (AWS: 8192).", 64, 1 << 20),
    max_depth: int(
      6,
      "Deepest nesting of a shadow document, counted from `state` (AWS: 6, so 5 levels inside desired / reported).",
      1,
      32,
    ),
  },
  REBOOT,
);
