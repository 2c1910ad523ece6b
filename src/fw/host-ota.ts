/**
 * Host firmware updates, every way the CCM doc lists: `OTA.Begin` / `OTA.Write` / `OTA.End` /
 * `OTA.Status` as `mos ota` drives them (mos-protocols.md §9; writes idempotent by offset),
 * `OTA.Update {url}` (HTTP or HTTPS download), periodic polling of a URL with a version check, the
 * shadow's desired `ota: {url, version}`, and any of these over any RPC channel (MQTT included).
 *
 * The bundle is staged in `<data-dir>/ota/` and verified completely (checksums, platform,
 * signature) before the host is touched. A marker (`state.json`, written atomically) says an
 * image is being applied: a CCM that restarts mid-flash applies it again at start. The last image
 * that flashed and answered is kept (`current.zip`): when a new one fails to flash or the host does
 * not answer after it, that one is flashed back. Progress goes to `OTA.Status` and to the shadow's
 * reported `ota`.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import Type from "typebox";
import { CcmError, errorMessage } from "../errors.js";
import type { Logger } from "../log/logger.js";
import type { MethodRegistry } from "../rpc/registry.js";
import type { JsonObject } from "../shadow/document.js";
import { atomicWriteFileSync } from "../util/atomic-file.js";

/** OTA.Status `state`, as mos reads it: it starts an update only from idle (0) or error (2). */
export const OTA_STATE = { idle: 0, receiving: 1, error: 2, applying: 3 } as const;
type StateName = keyof typeof OTA_STATE;

/** A verified bundle, as the apply step needs it. */
export interface VerifiedImage {
  version: string;
  parts: { name: string; type: string; addr?: number; data: Buffer }[];
  /** The bundle itself (a self-update part is installed from it). */
  source?: Buffer;
}

export interface OtaProgress {
  step: string;
  done: number;
  total: number;
}

export interface HostOtaOptions {
  /** `<data-dir>/ota`. */
  dir: string;
  registry: MethodRegistry;
  /** Reads and verifies a bundle (checksums, platform, signature); throws a CcmError. */
  verify: (zip: Buffer) => VerifiedImage;
  /** Puts the image on the host and checks it answers; resolves with what it said (Sys.Info). */
  apply: (image: VerifiedImage, progress: (p: OtaProgress) => void) => Promise<unknown>;
  /** Told every state change and every 10 % of progress: {@link HostOta.shadowStatus}. */
  report?: (status: JsonObject) => void;
  /** The host's firmware version now (Sys.Info fw_version), to skip an update it already runs. */
  hostVersion: () => string | undefined;
  logger: Logger;
  /** Seconds an update may take from OTA.Begin (or a download's start) to OTA.End. */
  timeoutS: number;
  /** Largest bundle accepted, in bytes. */
  maxSize: number;
  /** `ota.poll_url` and its period; empty: no polling. */
  pollUrl?: string;
  pollIntervalS?: number;
}

interface Marker {
  phase: "idle" | "applying";
  version?: string;
}

/** The host-update service of one daemon. */
export class HostOta {
  private state: StateName = "idle";
  private message = "";
  private progress: OtaProgress | undefined;
  private version = "";
  /** The URL of the last download asked for (OTA.Update, the shadow, polling). */
  private url = "";
  private size = 0;
  private written = 0;
  private fd: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private lastReport = "";
  private readonly o: HostOtaOptions;
  /** Resolves when the apply now under way ends (tests and shutdown wait on it). */
  applying: Promise<void> = Promise.resolve();

  constructor(o: HostOtaOptions) {
    this.o = o;
    mkdirSync(o.dir, { recursive: true });
    this.register();
  }

  private get incoming(): string {
    return join(this.o.dir, "incoming.zip");
  }
  private get staged(): string {
    return join(this.o.dir, "staged.zip");
  }
  private get current(): string {
    return join(this.o.dir, "current.zip");
  }
  private get markerFile(): string {
    return join(this.o.dir, "state.json");
  }

  /** Resumes an apply a restart interrupted; starts polling. */
  start(): void {
    const marker = this.readMarker();
    if (marker.phase === "applying") {
      this.o.logger.warn(`an update to ${marker.version ?? "?"} was interrupted: applying it again`);
      try {
        const image = this.o.verify(readFileSync(this.staged));
        this.version = image.version;
        this.applying = this.applyImage(image);
      } catch (e) {
        this.fail(`the interrupted update cannot be resumed: ${errorMessage(e)}`);
        this.writeMarker({ phase: "idle" });
      }
    }
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
    this.closeIncoming();
    await this.applying;
  }

  /** OTA.Status's answer. */
  status(): JsonObject {
    const s: JsonObject = { state: OTA_STATE[this.state], state_name: this.state };
    if (this.message !== "") s.message = this.message;
    if (this.version !== "") s.version = this.version;
    if (this.progress !== undefined) s.progress = { ...this.progress };
    if (this.state === "receiving") s.progress = { step: "receive", done: this.written, total: this.size };
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
    const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    if (!res.ok) throw new CcmError("OTA_FAILED", `HTTP ${res.status}`);
    const doc = (await res.json()) as { version?: unknown; url?: unknown };
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
    this.download(url).catch((e: unknown) => {
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
      description: "Starts receiving a firmware bundle of `size` bytes (as `mos ota` does).",
      params: Type.Object({
        size: Type.Integer({ minimum: 1 }),
        timeout: Type.Optional(Type.Integer({ minimum: 1 })),
        commit_timeout: Type.Optional(Type.Integer({ minimum: 0 })),
      }),
      handler: (p) => {
        this.begin(p.size, p.timeout ?? this.o.timeoutS);
        return true;
      },
    });
    r.register({
      name: "OTA.Write",
      description:
        "Writes base64 `data` at `offset`; the same chunk may be sent again (idempotent by offset).",
      params: Type.Object({ offset: Type.Integer({ minimum: 0 }), data: Type.String() }),
      handler: (p) => this.write(p.offset, Buffer.from(p.data, "base64")),
    });
    r.register({
      name: "OTA.End",
      description:
        "Ends receiving: verifies the whole bundle, stages it and starts applying it (see OTA.Status).",
      handler: () => this.end(),
    });
    r.register({
      name: "OTA.Update",
      description: "Downloads a bundle from `url` (HTTP or HTTPS), verifies it and applies it.",
      params: Type.Object({
        url: Type.String({ minLength: 1 }),
        commit_timeout: Type.Optional(Type.Integer()),
      }),
      handler: (p) => this.download(p.url),
    });
  }

  private busy(): void {
    if (this.state === "receiving" || this.state === "applying")
      throw new CcmError(
        "OTA_FAILED",
        `update is already in progress (${OTA_STATE[this.state]})${this.state === "receiving" ? ", call OTA.End" : ""}`,
        { rpcCode: 409 },
      );
  }

  private begin(size: number, timeoutS: number): void {
    this.busy();
    if (size > this.o.maxSize)
      throw new CcmError(
        "OTA_FAILED",
        `a ${size}-byte bundle is larger than ota.max_size (${this.o.maxSize})`,
        {
          rpcCode: 413,
        },
      );
    this.closeIncoming();
    this.fd = openSync(this.incoming, "w", 0o600);
    this.size = size;
    this.written = 0;
    this.version = "";
    this.progress = undefined;
    this.setState("receiving", "");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.state !== "receiving") return;
      this.closeIncoming();
      this.fail(`no OTA.End within ${timeoutS} s: abandoned`);
    }, timeoutS * 1000);
  }

  private write(offset: number, data: Buffer): JsonObject {
    if (this.state !== "receiving" || this.fd === undefined)
      throw new CcmError("OTA_FAILED", "no update in progress: call OTA.Begin first");
    if (offset > this.written)
      throw new CcmError("OTA_FAILED", `offset ${offset} is past the ${this.written} bytes written so far`, {
        rpcCode: 400,
      });
    if (offset + data.length > this.size)
      throw new CcmError(
        "OTA_FAILED",
        `${offset + data.length} bytes is more than the ${this.size} announced`,
        {
          rpcCode: 400,
        },
      );
    writeSync(this.fd, data, 0, data.length, offset);
    this.written = Math.max(this.written, offset + data.length);
    return { written: this.written };
  }

  private end(): JsonObject {
    if (this.state !== "receiving" || this.fd === undefined)
      throw new CcmError("OTA_FAILED", "no update in progress: call OTA.Begin first");
    clearTimeout(this.timer);
    const fd = this.fd;
    this.fd = undefined;
    fsyncSync(fd);
    closeSync(fd);
    if (this.written !== this.size) {
      this.fail(`received ${this.written} of ${this.size} bytes`);
      throw new CcmError("OTA_FAILED", this.message, { rpcCode: 400 });
    }
    return this.stage();
  }

  /** Verifies incoming.zip, makes it the staged image and starts applying it. */
  private stage(): JsonObject {
    let image: VerifiedImage;
    try {
      image = this.o.verify(readFileSync(this.incoming));
    } catch (e) {
      rmSync(this.incoming, { force: true });
      this.fail(`the bundle was refused: ${errorMessage(e)}`);
      throw new CcmError("OTA_FAILED", this.message, { rpcCode: 400, cause: e });
    }
    renameSync(this.incoming, this.staged);
    this.version = image.version;
    this.writeMarker({ phase: "applying", version: image.version });
    this.applying = this.applyImage(image);
    return { staged: true, version: image.version, parts: image.parts.map((p) => p.name) };
  }

  private async download(url: string): Promise<JsonObject> {
    this.busy();
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new CcmError("BAD_ARGUMENT", `not a URL: ${url}`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
      throw new CcmError("BAD_ARGUMENT", `only http:// and https:// URLs: ${url}`);
    this.url = url;
    this.setState("receiving", `downloading ${url}`);
    this.size = 0;
    this.written = 0;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.o.timeoutS * 1000) });
      if (!res.ok || res.body === null) throw new CcmError("OTA_FAILED", `HTTP ${res.status} from ${url}`);
      const length = Number(res.headers.get("content-length") ?? "0");
      if (length > this.o.maxSize)
        throw new CcmError("OTA_FAILED", `${url} is ${length} bytes, over ota.max_size (${this.o.maxSize})`);
      this.size = length;
      const fd = openSync(this.incoming, "w", 0o600);
      try {
        for await (const chunk of res.body) {
          const b = Buffer.from(chunk as Uint8Array);
          if (this.written + b.length > this.o.maxSize)
            throw new CcmError("OTA_FAILED", `${url} is over ota.max_size (${this.o.maxSize})`);
          writeSync(fd, b);
          this.written += b.length;
        }
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      this.size = this.written;
    } catch (e) {
      rmSync(this.incoming, { force: true });
      this.fail(`download failed: ${errorMessage(e)}`);
      throw new CcmError("OTA_FAILED", this.message, { cause: e });
    }
    return this.stage();
  }

  private async applyImage(image: VerifiedImage): Promise<void> {
    this.setState("applying", `applying ${image.version}`);
    const onProgress = (p: OtaProgress): void => {
      this.progress = p;
      const key = `${p.step}:${p.total > 0 ? Math.floor((10 * p.done) / p.total) : 0}`;
      if (key !== this.lastReport) {
        this.lastReport = key;
        this.report();
      }
    };
    try {
      const said = await this.o.apply(image, onProgress);
      renameSync(this.staged, this.current);
      this.writeMarker({ phase: "idle", version: image.version });
      this.progress = undefined;
      this.setState("idle", `host runs ${image.version}`);
      this.o.logger.info(`host updated to ${image.version}: ${JSON.stringify(said)}`);
    } catch (e) {
      const why = errorMessage(e);
      this.o.logger.error(`host update to ${image.version} failed: ${why}`);
      let previous: VerifiedImage | undefined;
      try {
        previous = this.o.verify(readFileSync(this.current));
      } catch {
        previous = undefined;
      }
      if (previous !== undefined) {
        this.setState("applying", `${why}; flashing the previous image ${previous.version} back`);
        try {
          await this.o.apply(previous, onProgress);
          this.writeMarker({ phase: "idle", version: previous.version });
          this.progress = undefined;
          this.fail(`${why}; the previous image ${previous.version} was flashed back`);
          return;
        } catch (e2) {
          this.writeMarker({ phase: "idle" });
          this.fail(`${why}; flashing the previous image back failed too: ${errorMessage(e2)}`);
          return;
        }
      }
      this.writeMarker({ phase: "idle" });
      this.fail(why);
    }
  }

  private fail(message: string): void {
    this.progress = undefined;
    this.setState("error", message);
  }

  private setState(state: StateName, message: string): void {
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

  private closeIncoming(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  private readMarker(): Marker {
    try {
      return JSON.parse(readFileSync(this.markerFile, "utf8")) as Marker;
    } catch {
      return { phase: "idle" };
    }
  }

  private writeMarker(m: Marker): void {
    atomicWriteFileSync(this.markerFile, JSON.stringify(m));
  }
}
