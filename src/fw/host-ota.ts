/**
 * Host firmware updates, every way the CCM doc lists: `OTA.Begin` / `OTA.Write` / `OTA.End` /
 * `OTA.Status` as `mos ota` drives them (mos-protocols.md §9; writes idempotent by offset),
 * `OTA.Update {url}` (HTTP or HTTPS download), periodic polling of a URL with a version check, the
 * shadow's desired `ota: {url, version}`, and any of these over any RPC channel (MQTT included).
 *
 * The bundle arrives in `<data-dir>/ota/incoming.zip` (ota-inbox.ts) and is verified completely
 * (checksums, platform, signature) before the host is touched; host-apply.ts then puts it on the host
 * and keeps it safe across interruptions. Progress goes to `OTA.Status` and to the shadow's reported
 * `ota`.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Type from "typebox";
import { CcmError, errorMessage } from "../errors.js";
import type { Logger } from "../log/logger.js";
import type { MethodRegistry } from "../rpc/registry.js";
import type { JsonObject } from "../shadow/document.js";
import { HostApply } from "./host-apply.js";
import {
  isSelfPart,
  type ApplyHooks,
  type OtaProgress,
  type SelfUpdater,
  type VerifiedImage,
} from "./ota-types.js";
import { checkUrl, downloadJson, OtaInbox } from "./ota-inbox.js";

export type { ApplyHooks, OtaProgress, SelfUpdater, VerifiedImage } from "./ota-types.js";

/** OTA.Status `state`, as mos reads it: it starts an update only from idle (0) or error (2). */
export const OTA_STATE = { idle: 0, receiving: 1, error: 2, applying: 3 } as const;
type StateName = keyof typeof OTA_STATE;

export interface HostOtaOptions {
  /** `<data-dir>/ota`. */
  dir: string;
  registry: MethodRegistry;
  /** Reads and verifies a bundle (checksums, platform, signature); throws a CcmError. */
  verify: (zip: Buffer) => VerifiedImage;
  /** Puts the image's host parts on the host and checks it answers; resolves with what it said (Sys.Info). */
  apply: (image: VerifiedImage, hooks: ApplyHooks) => Promise<unknown>;
  /** Takes `type=ccm` parts (absent: they are refused). */
  self?: SelfUpdater;
  /** Told every state change and every 10 % of progress: {@link HostOta.shadowStatus}. */
  report?: (status: JsonObject) => void;
  /** The host's firmware version now (Sys.Info fw_version), to skip an update it already runs. */
  hostVersion: () => string | undefined;
  logger: Logger;
  /** Seconds an update may take from OTA.Begin (or a download's start) to OTA.End. */
  timeoutS: number;
  /** Seconds a new image stays uncommitted when the caller does not say (`ota.commit_timeout`). */
  commitTimeoutS?: number;
  /** Largest bundle accepted, in bytes. */
  maxSize: number;
  /** PEM certificates trusted for HTTPS downloads besides the system's (`ota.ssl_ca`). */
  ca?: string;
  /** `ota.poll_url` and its period; empty: no polling. */
  pollUrl?: string;
  pollIntervalS?: number;
  /** Delays between attempts to reach a host that must be flashed again. */
  retryMs?: { min: number; max: number };
}

/** The host-update service of one daemon. */
export class HostOta {
  private state: StateName = "idle";
  private message = "";
  private progress: OtaProgress | undefined;
  private version = "";
  /** The URL of the last download asked for (OTA.Update, the shadow, polling). */
  private url = "";
  private commitTimeoutS: number;
  private timer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private lastReport = "";
  private readonly o: HostOtaOptions;
  private readonly inbox: OtaInbox;
  private readonly applier: HostApply;

  constructor(o: HostOtaOptions) {
    this.o = o;
    this.commitTimeoutS = o.commitTimeoutS ?? 0;
    mkdirSync(o.dir, { recursive: true });
    this.inbox = new OtaInbox(this.incoming, o.maxSize);
    this.applier = new HostApply({
      dir: o.dir,
      verify: o.verify,
      apply: o.apply,
      ...(o.self === undefined ? {} : { self: o.self }),
      ...(o.retryMs === undefined ? {} : { retryMs: o.retryMs }),
      report: {
        state: (state, message) => {
          this.setState(state, message);
        },
        progress: (p) => {
          this.onProgress(p);
        },
      },
      hostVersion: o.hostVersion,
      logger: o.logger,
    });
    this.register();
  }

  private get incoming(): string {
    return join(this.o.dir, "incoming.zip");
  }

  /** Resolves when the apply now under way ends (tests and shutdown wait on it). */
  get applying(): Promise<void> {
    return this.applier.done;
  }

  /** Resumes an apply a restart or an unplugged host interrupted; starts polling. */
  start(): void {
    this.applier.start();
    if (this.o.pollUrl !== undefined && this.o.pollUrl !== "") {
      const every = (this.o.pollIntervalS ?? 3600) * 1000;
      const poll = (): void => {
        this.poll().catch((e: unknown) => {
          this.o.logger.warn(`ota poll ${this.o.pollUrl ?? ""}: ${errorMessage(e)}`);
        });
      };
      this.pollTimer = setInterval(poll, every);
      setTimeout(poll, 1000).unref();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.pollTimer);
    clearTimeout(this.timer);
    this.inbox.close();
    await this.applier.stop();
  }

  /** The host link came back up: a flash that was cut short is tried again. */
  hostBack(): void {
    this.applier.hostBack();
  }

  /** OTA.Commit for the host: keeps an uncommitted image; its version, or undefined when none waits. */
  commit(): string | undefined {
    return this.applier.commit();
  }

  /** OTA.Revert for the host: flashes the previous image back over an uncommitted one. */
  revert(): boolean {
    return this.applier.revert("OTA.Revert");
  }

  /** OTA.Status's answer. */
  status(): JsonObject {
    const s: JsonObject = { state: OTA_STATE[this.state], state_name: this.state };
    if (this.message !== "") s.message = this.message;
    if (this.version !== "") s.version = this.version;
    if (this.progress !== undefined) s.progress = { ...this.progress };
    if (this.state === "receiving")
      s.progress = { step: "receive", done: this.inbox.written, total: this.inbox.size };
    Object.assign(s, this.applier.status());
    const host = this.o.hostVersion();
    if (host !== undefined) s.host_fw_version = host;
    return s;
  }

  /**
   * The shadow's desired `ota: {url, version}`: starts the update unless the host already runs that
   * version or one is under way. Returns the delta without `ota` for the host.
   */
  shadowDelta(delta: JsonObject): JsonObject {
    const ota = delta.ota;
    if (ota === undefined) return delta;
    const rest = { ...delta };
    delete rest.ota;
    if (typeof ota === "object" && ota !== null && !Array.isArray(ota)) {
      const o = ota as { url?: unknown; version?: unknown };
      // A delta holds only what differs from reported: a new version at the same URL comes alone.
      const url = typeof o.url === "string" ? o.url : this.url;
      if (url !== "") this.maybeUpdate(url, typeof o.version === "string" ? o.version : undefined, "shadow");
    }
    return rest;
  }

  /**
   * What the shadow's reported `ota` holds: the URL last asked for and the version the host runs,
   * so that a desired `ota` that has been applied leaves no delta, plus state and progress.
   */
  shadowStatus(): JsonObject {
    const s: JsonObject = { state: OTA_STATE[this.state], state_name: this.state, message: this.message };
    if (this.url !== "") s.url = this.url;
    const host = this.o.hostVersion();
    if (host !== undefined) s.version = host;
    s.progress = this.progress === undefined ? null : { ...this.progress };
    return s;
  }

  /** Polls `ota.poll_url`: a JSON document `{"version": "1.2.3", "url": "https://…/fw.zip"}`. */
  async poll(): Promise<void> {
    const url = this.o.pollUrl ?? "";
    const doc = (await downloadJson(url, this.downloadOptions())) as { version?: unknown; url?: unknown };
    if (typeof doc.url !== "string" || typeof doc.version !== "string")
      throw new CcmError("OTA_FAILED", 'the poll document needs "version" and "url" strings');
    this.maybeUpdate(new URL(doc.url, url).href, doc.version, "poll");
  }

  private maybeUpdate(url: string, version: string | undefined, by: string): void {
    if (
      version !== undefined &&
      (version === this.o.hostVersion() || (version === this.version && this.state !== "error"))
    )
      return;
    if (this.state === "receiving" || this.state === "applying") return;
    this.o.logger.info(`ota: ${by} asks for ${version ?? url}`);
    this.download(url, this.o.commitTimeoutS ?? 0).catch((e: unknown) => {
      this.o.logger.warn(`ota from ${url}: ${errorMessage(e)}`);
    });
  }

  private register(): void {
    const r = this.o.registry;
    r.register({
      name: "OTA.Status",
      description:
        "The update's state (0 idle, 1 receiving, 2 error, 3 applying), message, version and progress.",
      handler: () => this.status(),
    });
    r.register({
      name: "OTA.Begin",
      description:
        "Starts receiving a firmware bundle of `size` bytes (as `mos ota` does); commit_timeout > 0 keeps the new image uncommitted until OTA.Commit.",
      params: Type.Object({
        size: Type.Integer({ minimum: 1 }),
        timeout: Type.Optional(Type.Integer({ minimum: 1 })),
        commit_timeout: Type.Optional(Type.Integer({ minimum: 0 })),
      }),
      handler: (p) => {
        this.begin(p.size, p.timeout ?? this.o.timeoutS, p.commit_timeout ?? this.o.commitTimeoutS ?? 0);
        return true;
      },
    });
    r.register({
      name: "OTA.Write",
      description:
        "Writes base64 `data` at `offset`; the same chunk may be sent again (idempotent by offset).",
      params: Type.Object({ offset: Type.Integer({ minimum: 0 }), data: Type.String() }),
      handler: (p) => {
        if (this.state !== "receiving")
          throw new CcmError("OTA_FAILED", "no update in progress: call OTA.Begin first");
        return { written: this.inbox.write(p.offset, Buffer.from(p.data, "base64")) };
      },
    });
    r.register({
      name: "OTA.End",
      description:
        "Ends receiving: verifies the whole bundle, stages it and starts applying it (see OTA.Status).",
      handler: () => this.end(),
    });
    r.register({
      name: "OTA.Update",
      description:
        "Downloads a bundle from `url` (HTTP or HTTPS), verifies it and applies it; commit_timeout as for OTA.Begin.",
      params: Type.Object({
        url: Type.String({ minLength: 1 }),
        commit_timeout: Type.Optional(Type.Integer({ minimum: 0 })),
      }),
      handler: (p) => this.download(p.url, p.commit_timeout ?? this.o.commitTimeoutS ?? 0),
    });
  }

  private busy(): void {
    if (this.state === "receiving" || this.state === "applying" || this.applier.busy)
      throw new CcmError(
        "OTA_FAILED",
        `update is already in progress (${OTA_STATE[this.state]})${this.state === "receiving" ? ", call OTA.End" : ""}`,
        { rpcCode: 409 },
      );
    this.applier.checkFree();
  }

  private begin(size: number, timeoutS: number, commitTimeoutS: number): void {
    this.busy();
    this.inbox.begin(size);
    this.applier.hold(true);
    this.commitTimeoutS = commitTimeoutS;
    this.version = "";
    this.progress = undefined;
    this.setState("receiving", "");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.state !== "receiving") return;
      this.inbox.discard();
      this.applier.hold(false);
      this.fail(`no OTA.End within ${timeoutS} s: abandoned`);
    }, timeoutS * 1000);
  }

  private end(): JsonObject {
    if (this.state !== "receiving" || !this.inbox.receiving)
      throw new CcmError("OTA_FAILED", "no update in progress: call OTA.Begin first");
    clearTimeout(this.timer);
    try {
      this.inbox.finish();
    } catch (e) {
      this.applier.hold(false);
      this.fail(errorMessage(e));
      throw e;
    }
    return this.stage();
  }

  /** Verifies incoming.zip and hands it to the apply side; refused bundles change nothing. */
  private stage(): JsonObject {
    this.applier.hold(false);
    let image: VerifiedImage;
    try {
      image = this.o.verify(readFileSync(this.incoming));
    } catch (e) {
      this.inbox.discard();
      this.fail(`the bundle was refused: ${errorMessage(e)}`);
      throw new CcmError("OTA_FAILED", this.message, { rpcCode: 400, cause: e });
    }
    this.version = image.version;
    try {
      this.applier.take(this.incoming, image, this.commitTimeoutS);
    } catch (e) {
      this.inbox.discard();
      this.fail(`the bundle was refused: ${errorMessage(e)}`);
      throw new CcmError("OTA_FAILED", this.message, { rpcCode: 400, cause: e });
    }
    const restarts = image.parts.some(isSelfPart);
    return {
      staged: true,
      version: image.version,
      parts: image.parts.map((p) => p.name),
      ...(restarts ? { ccm_restarts: true } : {}),
    };
  }

  private downloadOptions(): { ca?: string; timeoutMs: number } {
    return { timeoutMs: this.o.timeoutS * 1000, ...(this.o.ca === undefined ? {} : { ca: this.o.ca }) };
  }

  private async download(url: string, commitTimeoutS: number): Promise<JsonObject> {
    this.busy();
    checkUrl(url);
    this.url = url;
    this.commitTimeoutS = commitTimeoutS;
    this.applier.hold(true);
    this.setState("receiving", `downloading ${url}`);
    try {
      await this.inbox.download(url, this.downloadOptions());
    } catch (e) {
      this.inbox.discard();
      this.applier.hold(false);
      this.fail(`download failed: ${errorMessage(e)}`);
      throw new CcmError("OTA_FAILED", this.message, { cause: e });
    }
    return this.stage();
  }

  private onProgress(p: OtaProgress): void {
    this.progress = p;
    const key = `${p.step}:${p.total > 0 ? Math.floor((10 * p.done) / p.total) : 0}`;
    if (key !== this.lastReport) {
      this.lastReport = key;
      this.report();
    }
  }

  private fail(message: string): void {
    this.setState("error", message);
  }

  private setState(state: StateName, message: string): void {
    this.progress = undefined;
    this.lastReport = "";
    this.state = state;
    this.message = message;
    this.report();
  }

  private report(): void {
    try {
      this.o.report?.(this.shadowStatus());
    } catch (e) {
      this.o.logger.debug(`ota report: ${errorMessage(e)}`);
    }
  }
}
