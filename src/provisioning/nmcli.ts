/** The NetworkManager backend: each action is one or two `nmcli` commands (argv asserted in tests). */
import { CcmError, errorMessage } from "../errors.js";
import type {
  AccessPoint,
  CommandResult,
  CommandRunner,
  NetworkBackend,
  ScanResult,
  StationStatus,
} from "./network.js";

/** Name of the NetworkManager connection profile the CCM's access point uses. */
export const AP_CONNECTION = "ccm-ap";

/** Name of the NetworkManager connection profile a join creates (the one factory reset deletes). */
export const STA_CONNECTION = "ccm-sta";

/** nmcli's exit status for a connection, device or access point that does not exist. */
const NMCLI_NOT_FOUND = 10;

/** Drives Wi-Fi through `nmcli`. */
export class NmcliBackend implements NetworkBackend {
  readonly name = "nmcli";
  readonly managedByOs = false;
  private readonly run: CommandRunner;
  private readonly ifname: string;
  private sta: StationStatus = { status: "disconnected", ssid: "" };

  constructor(run: CommandRunner, ifname = "") {
    this.run = run;
    this.ifname = ifname;
  }

  /** What the last join did: NetworkManager is not asked again (Sys.GetInfo must stay cheap). */
  station(): StationStatus {
    return { ...this.sta };
  }

  /**
   * Deletes the `ccm-sta` profile, then `nmcli --wait 45 device wifi connect SSID [password PASS]
   * [ifname IF] name ccm-sta`: one profile, always the configured network (nmcli would otherwise
   * activate an existing `ccm-sta` for another network, or add a second one of that name).
   */
  async join(ssid: string, pass: string): Promise<void> {
    this.sta = { status: "connecting", ssid };
    try {
      await this.join1(ssid, pass);
    } catch (e) {
      this.sta = { status: "failed", ssid, error: errorMessage(e) };
      throw e;
    }
    this.sta = { status: "connected", ssid };
  }

  private async join1(ssid: string, pass: string): Promise<void> {
    await this.run("nmcli", ["connection", "delete", STA_CONNECTION]);
    await this.nmcli(
      [
        "--wait",
        "45",
        "device",
        "wifi",
        "connect",
        ssid,
        ...(pass === "" ? [] : ["password", pass]),
        ...this.iface(),
        "name",
        STA_CONNECTION,
      ],
      `join ${ssid}`,
    );
  }

  /** `nmcli connection delete ccm-sta` (disconnecting it if up); no such profile is no error. */
  async forget(): Promise<void> {
    const r = await this.run("nmcli", ["connection", "delete", STA_CONNECTION]);
    if (r.code !== 0 && r.code !== NMCLI_NOT_FOUND) throw failure(r, `forget ${STA_CONNECTION}`);
    this.sta = { status: "disconnected", ssid: "" };
  }

  /** Replaces the `ccm-ap` profile with an AP on `ap.ip`/24 (NetworkManager serves DHCP) and brings it up. */
  async startAp(ap: AccessPoint): Promise<void> {
    await this.run("nmcli", ["connection", "delete", AP_CONNECTION]);
    const security = ap.pass === "" ? [] : ["wifi-sec.key-mgmt", "wpa-psk", "wifi-sec.psk", ap.pass];
    await this.nmcli(
      [
        "connection",
        "add",
        "type",
        "wifi",
        "ifname",
        this.ifname === "" ? "*" : this.ifname,
        "con-name",
        AP_CONNECTION,
        "autoconnect",
        "no",
        "ssid",
        ap.ssid,
        "802-11-wireless.mode",
        "ap",
        "802-11-wireless.band",
        "bg",
        "802-11-wireless.channel",
        String(ap.channel),
        "ipv4.method",
        "shared",
        "ipv4.addresses",
        `${ap.ip}/24`,
        "ipv6.method",
        "disabled",
        ...security,
      ],
      `create access point ${ap.ssid}`,
    );
    await this.nmcli(["connection", "up", AP_CONNECTION], `open access point ${ap.ssid}`);
  }

  /** `nmcli connection down ccm-ap`; an AP that is not up is not an error. */
  async stopAp(): Promise<void> {
    await this.run("nmcli", ["connection", "down", AP_CONNECTION]);
  }

  /** `nmcli --terse --escape yes --fields SSID,BSSID,CHAN,SIGNAL,SECURITY device wifi list --rescan yes`. */
  async scan(): Promise<ScanResult[]> {
    const out = await this.nmcli(
      [
        "--terse",
        "--escape",
        "yes",
        "--fields",
        "SSID,BSSID,CHAN,SIGNAL,SECURITY",
        "device",
        "wifi",
        "list",
        "--rescan",
        "yes",
        ...this.iface(),
      ],
      "scan",
    );
    return parseScan(out);
  }

  private iface(): string[] {
    return this.ifname === "" ? [] : ["ifname", this.ifname];
  }

  private async nmcli(args: string[], what: string): Promise<string> {
    const r = await this.run("nmcli", args);
    if (r.code !== 0) throw failure(r, what);
    return r.stdout;
  }
}

/** NETWORK_FAILED carrying nmcli's own words. */
function failure(r: CommandResult, what: string): CcmError {
  const why = (r.stderr.trim() || r.stdout.trim() || `exit code ${r.code}`).replace(/^Error: /, "");
  return new CcmError("NETWORK_FAILED", `nmcli could not ${what}: ${why}`);
}

/** Parses `nmcli --terse --escape yes` scan lines (`:` separated, `\:` escaped) into Wifi.Scan entries. */
export function parseScan(text: string): ScanResult[] {
  const results: ScanResult[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const f = line.split(/(?<!\\):/).map((s) => s.replace(/\\(.)/g, "$1"));
    if (f.length < 5) continue;
    const signal = Number(f[3]);
    results.push({
      ssid: f[0]!,
      bssid: f[1]!.toLowerCase(),
      auth: authOf(f.slice(4).join(":")),
      channel: Number(f[2]) || 0,
      rssi: Number.isFinite(signal) ? Math.round(signal / 2 - 100) : -100,
    });
  }
  return results;
}

function authOf(security: string): number {
  if (/802\.1X/i.test(security)) return 5;
  const wpa = /WPA1|WPA(?![23])/i.test(security);
  const wpa2 = /WPA2|WPA3/i.test(security);
  if (wpa && wpa2) return 4;
  if (wpa2) return 3;
  if (wpa) return 2;
  if (/WEP/i.test(security)) return 1;
  return 0;
}
