/**
 * The network backend the CCM drives for Wi-Fi: join as a station, open an access point while
 * unprovisioned, scan. `none` leaves networking to the OS; `nmcli` drives NetworkManager.
 */
import { execFile } from "node:child_process";
import { CcmError } from "../errors.js";

/** One network seen by a scan, in Mongoose OS Wifi.Scan shape (auth: 0 open, 1 WEP, 2 WPA, 3 WPA2, 4 WPA/WPA2, 5 enterprise). */
export interface ScanResult {
  ssid: string;
  bssid: string;
  auth: number;
  channel: number;
  rssi: number;
}

/** Access point settings. */
export interface AccessPoint {
  ssid: string;
  pass: string;
  channel: number;
  ip: string;
}

/**
 * The station link as the backend last saw it (Sys.GetInfo `wifi.sta`): `os` when the OS manages
 * the network; otherwise the outcome of the CCM's last join (`connected` once the join succeeded).
 */
export interface StationStatus {
  status: "os" | "disconnected" | "connecting" | "connected" | "failed";
  /** The network joined or being joined; empty when none. */
  ssid: string;
  /** Why the last join failed. */
  error?: string;
}

/** What the provisioning service needs from the network. */
export interface NetworkBackend {
  readonly name: string;
  /** Whether the OS, not the CCM, manages the network (no join, no access point). */
  readonly managedByOs: boolean;
  /** The station link now; costs nothing (no command runs). */
  station(): StationStatus;
  /** Joins `ssid` as a station; resolves once connected, rejects with NETWORK_FAILED. */
  join(ssid: string, pass: string): Promise<void>;
  /**
   * Forgets the station network the CCM joined (the OS's saved profile for it), so the OS does not
   * join it again on its own; nothing to forget is no error. Rejects with NETWORK_FAILED.
   */
  forget(): Promise<void>;
  startAp(ap: AccessPoint): Promise<void>;
  stopAp(): Promise<void>;
  scan(): Promise<ScanResult[]>;
}

/** `wifi.backend=none`: the OS owns the network; the CCM assumes it is online. */
export class NoNetworkBackend implements NetworkBackend {
  readonly name = "none";
  readonly managedByOs = true;

  station(): StationStatus {
    return { status: "os", ssid: "" };
  }

  join(): Promise<void> {
    return Promise.resolve();
  }

  forget(): Promise<void> {
    return Promise.resolve();
  }

  startAp(): Promise<void> {
    return Promise.resolve();
  }

  stopAp(): Promise<void> {
    return Promise.resolve();
  }

  scan(): Promise<ScanResult[]> {
    return Promise.reject(
      new CcmError(
        "NETWORK_FAILED",
        "no network backend: set wifi.backend=nmcli to let the CCM manage Wi-Fi",
      ),
    );
  }
}

/** The outcome of one command. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with arguments (never a shell); tests inject a recording fake. */
export type CommandRunner = (file: string, args: readonly string[]) => Promise<CommandResult>;

/** The real runner: execFile with a 90 s limit; a missing program is exit code 127. */
export const execRunner: CommandRunner = (file, args) =>
  new Promise((resolve) => {
    execFile(file, [...args], { timeout: 90_000, encoding: "utf8" }, (error, stdout, stderr) => {
      const code =
        error === null ? 0 : typeof error.code === "number" ? error.code : error.code === "ENOENT" ? 127 : 1;
      resolve({ code, stdout, stderr: error !== null && stderr === "" ? error.message : stderr });
    });
  });
