/** Config sections of Wi-Fi and provisioning (CCM configuration reference, mongoose-os-libs/provision). */
import Type from "typebox";
import { REBOOT, bool, int, secret, section, str } from "./schema-kit.js";

/** `wifi`: station, access point and who manages them. */
export const WifiSection = section({
  backend: Type.Union([Type.Literal("none"), Type.Literal("nmcli")], {
    default: "none",
    description:
      "Who manages Wi-Fi: `none` (the OS; the CCM assumes it is online) or `nmcli` (NetworkManager, driven by the CCM).",
    "x-reboot": true,
  }),
  ifname: str("", "Wi-Fi interface for nmcli, e.g. wlan0; empty: NetworkManager chooses.", REBOOT),
  sta: section({
    enable: bool(false, "Join the network below as a station."),
    ssid: str("", "Network to join."),
    pass: secret("Its passphrase; empty: an open network."),
  }),
  ap: section({
    enable: bool(true, "Open an access point while unprovisioned (no station configured)."),
    ssid: str("CCM-??????", "Access point name; `?` characters are replaced by the end of the device id."),
    pass: secret("Access point passphrase (8+ characters); empty: open."),
    channel: int(6, "Access point channel.", 1, 14),
    ip: str("192.168.4.1", "Address of the CCM on the access point's network (/24, DHCP served)."),
  }),
});

/** `provision`: button, LED and the state machine's stable state and timeout. */
export const ProvisionSection = section({
  gpio_chip: str("gpiochip0", "GPIO chip (libgpiod) of the button and LED lines.", REBOOT),
  btn: section(
    {
      pin: int(-1, "Factory reset button: line offset on gpio_chip; -1: none.", -1, 1023),
      pull_up: bool(true, "The button pulls the line low when pressed (line idles high)."),
      hold_ms: int(0, "Hold the button this long to factory-reset; 0: reset when held at start.", 0, 600_000),
    },
    REBOOT,
  ),
  led: section(
    {
      pin: int(-1, "Status LED: line offset on gpio_chip; -1: none.", -1, 1023),
      active_high: bool(true, "The LED is on when the line is high."),
    },
    REBOOT,
  ),
  stable_state: int(
    2,
    "Provisioning state that counts as provisioned (1 network configured, 2 network up, 3 cloud connected); 0: never reset.",
    0,
    3,
  ),
  timeout: int(
    300,
    "Seconds to reach stable_state once configured; if missed and never reached before, user config is wiped.",
    0,
    86_400,
  ),
  max_state: int(0, "Highest provisioning state ever reached; kept by the CCM across restarts.", 0, 3),
});
