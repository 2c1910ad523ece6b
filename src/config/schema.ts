/**
 * The configuration tree: one TypeBox schema carrying defaults, types and descriptions.
 * It validates every source of config and generates docs/config.md.
 */
import Type, { type Static } from "typebox";
import {
  AwsSection,
  AzureSection,
  ConfigLockSection,
  DashSection,
  ShadowSection,
  MqttSection,
} from "./schema-cloud.js";
import { REBOOT, bool, int, secret, section, str } from "./schema-kit.js";
import { ProvisionSection, WifiSection } from "./schema-provision.js";

const pinDescription = (what: string) =>
  `Line driving the host's ${what}: \`dtr\`, \`rts\` (of host.port) or \`CHIP:OFFSET\` (libgpiod); empty: none.`;

export const ConfigSchema = Type.Object(
  {
    device: Type.Object(
      {
        id: Type.String({
          default: "",
          description:
            "Device id: `src` of every frame the CCM sends. Empty: generated once and kept in the data dir.",
        }),
        password: secret("Device password, the credential cloud dashboards (mDash) know the device by."),
      },
      { default: {}, additionalProperties: false, ...REBOOT },
    ),
    host: Type.Object(
      {
        port: Type.String({
          default: "",
          description: "The host's UART: a serial device path or tcp://host:port.",
        }),
        baud: int(115200, "UART speed, 8N1.", 50, 4_000_000),
        max_frame: int(
          8192,
          "Longest line accepted from the host, in bytes; longer lines are dropped and reported.",
          256,
          1 << 20,
        ),
        timeout_ms: int(10000, "How long a call to the host may take before it fails.", 10, 600_000),
        max_pending: int(32, "Most calls to the host awaiting an answer at once.", 1, 10_000),
        probe_ms: int(2000, "Timeout of each Sys.Info / RPC.List probe of the host.", 10, 60_000),
        ping_ms: int(30000, "How often the host is probed to notice a reset; 0 disables.", 0, 86_400_000),
        jsonrpc_member: Type.Boolean({
          default: true,
          description: 'Put "jsonrpc":"2.0" on frames to the host.',
        }),
        rst_pin: str("", pinDescription("reset (RST)")),
        rst_invert: bool(false, "RST is active high (through an inverting transistor)."),
        boot0_pin: str("", pinDescription("BOOT0")),
        boot0_invert: bool(false, "BOOT0 is driven inverted."),
        lines: str(
          "none",
          "How RST/BOOT0 are driven for host updates, as `ccm flash --lines` takes it: none, dtr-rts, rts-dtr, gpiod:CHIP:RST,BOOT0, sim:ADDR (`:inv-rst`, `:inv-boot0`).",
        ),
        flash_baud: int(115200, "Baud rate of the host's ROM bootloader during updates.", 1200, 3_000_000),
        confirm_s: int(
          15,
          "Seconds the host has to answer Sys.Info with the new fw_version after an update.",
          1,
          600,
        ),
        inbox_max: int(
          256,
          "Most notifications for the host (MQTT.Message, Shadow.Delta) held while it is not answering on its UART or the UART is backlogged (over 32 KiB still to send); when full, the oldest go first, counted in Sys.GetInfo `inbox.dropped` and logged.",
          1,
          1_000_000,
        ),
      },
      { default: {}, additionalProperties: false, ...REBOOT },
    ),
    rpc: Type.Object(
      {
        uart: Type.Object(
          {
            port: Type.String({
              default: "",
              description: "A second UART serving RPC to a management client (mos, ccm call); empty: off.",
            }),
            baud: int(115200, "Speed of the management UART, 8N1.", 50, 4_000_000),
          },
          { default: {}, additionalProperties: false },
        ),
        http: Type.Object(
          {
            enable: Type.Boolean({
              default: true,
              description:
                "Serve RPC over HTTP (`/rpc`, `/rpc/Method`) and WebSocket (`/rpc`), and the Wi-Fi provisioning page (`/`).",
            }),
            listen: Type.String({
              default: "127.0.0.1:8000",
              description:
                "Address and port of the HTTP/WebSocket server; `0.0.0.0:8000` to be reachable from the network.",
            }),
          },
          { default: {}, additionalProperties: false },
        ),
        ws: Type.Object(
          { enable: Type.Boolean({ default: true, description: "Accept WebSocket RPC on `/rpc`." }) },
          { default: {}, additionalProperties: false },
        ),
        mqtt: Type.Object(
          {
            enable: Type.Boolean({
              default: true,
              description: "Serve RPC on `<device.id>/rpc` when the MQTT connection (mqtt.enable) is up.",
            }),
            qos: int(1, "QoS of RPC subscriptions and replies.", 0, 1),
          },
          { default: {}, additionalProperties: false },
        ),
        max_frame: int(65536, "Largest WebSocket message or HTTP body accepted, in bytes.", 256, 16 << 20),
        auth_domain: Type.String({ default: "RPC", description: "Digest auth realm." }),
        auth_file: Type.String({
          default: "",
          description: "htdigest file of RPC users (`htdigest -c FILE REALM USER`); empty: no users.",
        }),
        auth_algo: Type.Union([Type.Literal("MD5"), Type.Literal("SHA-256")], {
          default: "MD5",
          description: "Digest algorithm clients must use.",
        }),
        acl_file: Type.String({
          default: "",
          description:
            'JSON ACL: `[{"method":"FS.*","ch_type":"WS_in","acl":"+admin"}]`, first match wins; empty: none.',
        }),
      },
      { default: {}, additionalProperties: false, ...REBOOT },
    ),
    wifi: WifiSection,
    mqtt: MqttSection,
    aws: AwsSection,
    azure: AzureSection,
    dash: DashSection,
    shadow: ShadowSection,
    provision: ProvisionSection,
    ota: section(
      {
        enable: bool(true, "Accept firmware updates (of the host and of the CCM itself)."),
        timeout: int(600, "Seconds an update may take before it is abandoned.", 10, 86_400),
        commit_timeout: int(
          0,
          "Seconds an update stays uncommitted, waiting for OTA.Commit, before it is reverted (the host's previous image flashed back, the CCM's previous slot started) when the caller (OTA.Begin, OTA.Update) does not say; 0: committed once it runs (the CCM: after ota.healthy_after).",
          0,
          86_400,
        ),
        max_size: int(16 * 1024 * 1024, "Largest firmware bundle accepted, in bytes.", 1024, 1 << 30),
        poll_url: str(
          "",
          'URL of a JSON document `{"version":"1.2.3","url":"…/fw.zip"}` polled for host updates; empty: no polling.',
        ),
        poll_interval_s: int(3600, "Seconds between polls of ota.poll_url.", 10, 31_536_000),
        trusted_keys: str(
          "",
          "PEM files of public keys (ECDSA P-256, Ed25519), comma separated; when set, bundles must be signed by one of them.",
        ),
        ssl_ca: str(
          "",
          "PEM file of CA certificates trusted for HTTPS downloads (OTA.Update, ota.poll_url, the shadow) besides the system's; relative: a file FS.Put wrote.",
        ),
        boot_attempts: int(
          3,
          "Starts a new CCM version may fail (exit before it is committed) before the supervisor reverts it.",
          1,
          100,
        ),
        healthy_after: int(
          10,
          "Seconds a new CCM version must run after starting to be committed automatically (commit_timeout 0).",
          0,
          3600,
        ),
      },
      REBOOT,
    ),
    debug: Type.Object(
      {
        level: int(
          2,
          "Log level as Mongoose OS names it: 0 error, 1 warn, 2 info, 3 debug, 4 verbose.",
          0,
          4,
        ),
      },
      { default: {}, additionalProperties: false, ...REBOOT },
    ),
    config: ConfigLockSection,
  },
  { additionalProperties: false },
);

export type CcmConfig = Static<typeof ConfigSchema>;
