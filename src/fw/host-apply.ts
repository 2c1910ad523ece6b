/**
 * Puts a verified image on the host so that no interruption leaves the host without a complete one
 * (stm32-ota.md §5.4, §7). `ota/state.json`, written atomically, names the image the host must end
 * up with, so it outlives a CCM restart and an unplugged host:
 *
 * - a failure before anything on the host changed (no bootloader, an image that does not fit)
 *   changes nothing more: the host keeps what it runs;
 * - a flash cut short (host unplugged, CCM killed) stays pending: the same image is flashed again
 *   when the host link comes back, on a timer (its bootloader answers) and at the next start; after
 *   {@link MAX_FLASH_FAILURES} of those the previous image is flashed instead;
 * - an image that flashed but does not answer with its version is replaced by the previous one,
 *   `current.zip`: the last host image that flashed and answered (never a CCM-only bundle);
 * - with a commit timeout, a new image that answered stays uncommitted until OTA.Commit, else the
 *   previous one is flashed back.
 *
 * Parts of `type=ccm` are the CCM's own update: staged for the supervisor once any host part is on
 * the host, with the bookkeeping done before the supervisor is asked to switch (it stops this process).
 */
import { CcmError, errorMessage } from "../errors.js";
import type { Logger } from "../log/logger.js";
import type { JsonObject } from "../shadow/document.js";
import { OtaDir } from "./ota-dir.js";
import { isSelfPart, type ApplyHooks, type SelfUpdater, type VerifiedImage } from "./ota-types.js";

export interface HostApplyOptions {
  /** `<data-dir>/ota`. */
  dir: string;
  verify: (zip: Buffer) => VerifiedImage;
  /** Puts the image's host parts on the host and checks it answers; resolves with what it said. */
  apply: (image: VerifiedImage, hooks: ApplyHooks) => Promise<unknown>;
  self?: SelfUpdater;
  /** Where the service's state goes (OTA.Status, the shadow). */
  report: {
    state: (state: "applying" | "idle" | "error", message: string) => void;
    progress: ApplyHooks["progress"];
  };
  /** The host's firmware version now, for messages. */
  hostVersion: () => string | undefined;
  logger: Logger;
  /** Delays between attempts to reach a host that must be flashed again (default 1 s doubling to 15 s). */
  retryMs?: { min: number; max: number };
}

/** Flash attempts of one image that changed the host and failed before the previous image is tried. */
export const MAX_FLASH_FAILURES = 3;

/** The apply side of the OTA service: the marker, the flash attempts, the rollback and the commit. */
export class HostApply {
  private readonly o: HostApplyOptions;
  private readonly files: OtaDir;
  private attempt: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private revertTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private lastEnd = 0;
  private held = false;
  private gaveUp = false;
  private stopped = false;

  constructor(o: HostApplyOptions) {
    this.o = o;
    this.retryDelay = o.retryMs?.min ?? 1000;
    this.files = new OtaDir(o.dir);
  }

  /** Resolves when the attempt under way (if any) ends. */
  get done(): Promise<void> {
    return this.attempt ?? Promise.resolve();
  }

  get busy(): boolean {
    return this.attempt !== undefined;
  }

  /** Resumes what the marker says: a flash cut short is done again, an uncommitted image waits. */
  start(): void {
    const m = this.files.marker;
    if (m.phase === "applying") {
      this.o.logger.warn(
        `the host must be flashed with ${m.image === "current" ? "the previous image" : (m.version ?? "?")}: ${m.reason ?? "the CCM stopped while applying it"}`,
      );
      this.files.save({ ...m, failures: 0, reason: m.reason ?? "the CCM stopped while applying it" });
      this.kick();
    } else if (m.phase === "uncommitted") {
      this.armRevert();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.revertTimer);
    await this.done;
  }

  /** What OTA.Status adds: an image waiting to be flashed (again) or to be committed. */
  status(): JsonObject {
    const m = this.files.marker;
    if (m.phase === "uncommitted")
      return {
        is_committed: false,
        revert_in_s: Math.max(0, Math.ceil(((m.revertAt ?? 0) - Date.now()) / 1000)),
      };
    if (m.phase === "applying")
      return { pending: m.image === "current" ? "previous image" : (m.version ?? "") };
    return {};
  }

  /** Throws 409 while an attempt runs or the host runs an uncommitted image. */
  checkFree(): void {
    if (this.files.marker.phase === "uncommitted")
      throw new CcmError(
        "OTA_FAILED",
        `the host runs ${this.files.marker.version ?? "an update"} uncommitted: OTA.Commit or OTA.Revert first`,
        { rpcCode: 409 },
      );
  }

  /** While held (a bundle is arriving), no attempt starts; released, a pending one does. */
  hold(on: boolean): void {
    this.held = on;
    if (!on && this.files.marker.phase === "applying" && !this.gaveUp) this.scheduleRetry(0);
  }

  /**
   * Takes a bundle just verified (`file`): host parts go through the marker, a CCM-only bundle
   * straight to the supervisor. Throws, changing nothing, when the CCM cannot take its part.
   */
  take(file: string, image: VerifiedImage, commitTimeoutS: number): void {
    this.checkFree();
    if (this.busy) throw new CcmError("OTA_FAILED", "an update is being applied", { rpcCode: 409 });
    if (image.parts.some(isSelfPart)) {
      if (this.o.self === undefined) throw new CcmError("OTA_FAILED", "this CCM does not update itself");
      this.o.self.check();
    }
    if (image.parts.every(isSelfPart)) {
      this.files.drop(file);
      this.run(() => this.switchSelf(image, commitTimeoutS, ""));
      return;
    }
    this.files.stage(file);
    const touched = this.files.marker.phase === "applying" && this.files.marker.touched === true;
    this.files.save({
      phase: "applying",
      image: "staged",
      version: image.version,
      commitTimeout: commitTimeoutS,
      touched,
    });
    this.gaveUp = false;
    this.retryDelay = this.o.retryMs?.min ?? 1000;
    this.kick();
  }

  /** The host link came back: a pending flash is tried now, unless one just ended (its own reopen). */
  hostBack(): void {
    if (this.files.marker.phase !== "applying" || this.gaveUp || this.busy) return;
    if (Date.now() - this.lastEnd < (this.o.retryMs?.min ?? 1000)) return;
    this.retryDelay = this.o.retryMs?.min ?? 1000;
    this.kick();
  }

  /** OTA.Commit: keeps an uncommitted host image; returns its version, or undefined when none waits. */
  commit(): string | undefined {
    const m = this.files.marker;
    if (m.phase !== "uncommitted") return undefined;
    clearTimeout(this.revertTimer);
    this.files.promote();
    this.files.save({ phase: "idle" });
    this.o.report.state("idle", `host runs ${m.version ?? "?"}, committed`);
    return m.version;
  }

  /** OTA.Revert or the commit timeout: flashes the previous image back over an uncommitted one. */
  revert(reason: string): boolean {
    if (this.files.marker.phase !== "uncommitted") return false;
    clearTimeout(this.revertTimer);
    this.files.save({ phase: "applying", image: "current", touched: true, failures: 0, reason });
    this.kick();
    return true;
  }

  private run(job: () => Promise<void>): void {
    this.attempt = job()
      .catch((e: unknown) => {
        this.o.logger.error(`ota: ${errorMessage(e)}`);
        this.o.report.state("error", errorMessage(e));
      })
      .finally(() => {
        this.attempt = undefined;
        this.lastEnd = Date.now();
      });
  }

  private kick(): void {
    clearTimeout(this.retryTimer);
    if (this.busy || this.held || this.stopped || this.files.marker.phase !== "applying") return;
    this.run(async () => {
      while (await this.flashOnce());
    });
  }

  /** Tries the pending flash again after `ms`, or after a delay that doubles with each retry. */
  private scheduleRetry(ms?: number): void {
    clearTimeout(this.retryTimer);
    if (this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.kick();
    }, ms ?? this.retryDelay);
    this.retryTimer.unref();
    if (ms === undefined) this.retryDelay = Math.min(this.o.retryMs?.max ?? 15_000, this.retryDelay * 2);
  }

  private armRevert(): void {
    clearTimeout(this.revertTimer);
    const m = this.files.marker;
    const ms = Math.max(0, (m.revertAt ?? 0) - Date.now());
    this.revertTimer = setTimeout(() => {
      this.revert(`${m.version ?? "the update"} was not committed within ${m.commitTimeout ?? 0} s`);
    }, ms);
    this.revertTimer.unref();
  }

  /** One flash of the image the marker names; true: flash the next one (the previous image) now. */
  private async flashOnce(): Promise<boolean> {
    const m = this.files.marker;
    const rollback = m.image === "current";
    let image: VerifiedImage;
    try {
      image = this.o.verify(this.files.read(rollback ? "current" : "staged"));
    } catch (e) {
      this.files.save({ phase: "idle" });
      this.o.report.state(
        "error",
        `${rollback ? "the previous image" : `the staged image ${m.version ?? ""}`} cannot be read back: ${errorMessage(e)}`,
      );
      return false;
    }
    this.o.report.state(
      "applying",
      m.reason === undefined
        ? `applying ${image.version}`
        : rollback
          ? `${m.reason}; flashing the previous image ${image.version} back`
          : `flashing ${image.version} again after: ${m.reason}`,
    );
    let touched = false;
    let flashed = false;
    const hooks: ApplyHooks = {
      progress: this.o.report.progress,
      touched: () => {
        if (touched) return;
        touched = true;
        if (this.files.marker.touched !== true) this.files.save({ ...this.files.marker, touched: true });
      },
      flashed: () => {
        flashed = true;
      },
    };
    try {
      const said = await this.o.apply({ ...image, parts: image.parts.filter((p) => !isSelfPart(p)) }, hooks);
      this.o.logger.info(`host flashed with ${image.version}: ${JSON.stringify(said)}`);
    } catch (e) {
      return this.failed(image, errorMessage(e), touched, flashed);
    }
    await this.succeeded(image);
    return false;
  }

  private async succeeded(image: VerifiedImage): Promise<void> {
    const m = this.files.marker;
    if (m.image === "current") {
      this.files.dropStaged();
      this.files.save({ phase: "idle" });
      this.o.report.state(
        "error",
        `${m.reason ?? "the update failed"}; the previous image ${image.version} was flashed back`,
      );
      return;
    }
    const ct = m.commitTimeout ?? 0;
    const again = m.reason === undefined ? "" : ` (flashed again after: ${m.reason})`;
    if (ct > 0 && this.files.hasPrevious()) {
      this.files.save({
        phase: "uncommitted",
        image: "staged",
        version: image.version,
        commitTimeout: ct,
        revertAt: Date.now() + ct * 1000,
      });
      this.armRevert();
      this.o.report.state(
        "idle",
        `host runs ${image.version}${again}, uncommitted: OTA.Commit within ${ct} s keeps it, else the previous image is flashed back`,
      );
    } else {
      this.files.promote();
      this.files.save({ phase: "idle" });
      this.o.report.state(
        "idle",
        `host runs ${image.version}${again}${ct > 0 ? "; committed at once: there is no previous image to go back to" : ""}`,
      );
    }
    if (image.parts.some(isSelfPart)) await this.switchSelf(image, ct, `host runs ${image.version}; `);
  }

  private failed(image: VerifiedImage, why: string, touched: boolean, flashed: boolean): boolean {
    const m = this.files.marker;
    const what = m.image === "current" ? `the previous image ${image.version}` : image.version;
    this.o.logger.error(`flashing ${what} failed: ${why}`);
    if (!touched && m.touched !== true) {
      this.files.dropStaged();
      this.files.save({ phase: "idle" });
      const runs = this.o.hostVersion();
      this.o.report.state(
        "error",
        `${why}; nothing on the host was changed${runs === undefined ? "" : ` (it runs ${runs})`}`,
      );
      return false;
    }
    if (!touched) {
      this.o.report.state(
        "error",
        `${m.reason ?? "an earlier flash was cut short"}; ${what} must be flashed again, but the host does not answer yet (${why}): trying again until it does`,
      );
      this.scheduleRetry();
      return false;
    }
    if (!flashed) {
      const failures = (m.failures ?? 0) + 1;
      if (failures < MAX_FLASH_FAILURES) {
        this.files.save({
          ...m,
          touched: true,
          failures,
          reason: `flashing ${image.version} was cut short: ${why}`,
        });
        this.o.report.state(
          "error",
          `flashing ${what} was cut short (${why}); it is flashed again when the host or its bootloader answers`,
        );
        this.scheduleRetry();
        return false;
      }
      return this.fallBack(`flashing ${image.version} failed ${failures} times: ${why}`, false);
    }
    return this.fallBack(why, true);
  }

  /** After the image the marker names failed for good: the previous image next, or give up. */
  private fallBack(why: string, complete: boolean): boolean {
    const m = this.files.marker;
    if (m.image !== "current" && this.files.hasPrevious()) {
      this.files.save({ phase: "applying", image: "current", touched: true, failures: 0, reason: why });
      return true;
    }
    const before =
      m.image === "current" ? `${m.reason ?? ""}; flashing the previous image back failed too: ` : "";
    if (complete) {
      // A complete, verified image is on the host; it only did not answer as it should.
      this.files.dropStaged();
      this.files.save({ phase: "idle" });
      this.o.report.state(
        "error",
        `${before}${why}${m.image === "current" ? "" : "; there is no previous image to flash back"}`,
      );
    } else {
      this.gaveUp = true;
      this.o.report.state(
        "error",
        `${before}${why}; the host may hold no complete image: it is tried again at the next start or with the next update`,
      );
    }
    return false;
  }

  /** Stages the CCM's part and asks the supervisor to switch; the host's bookkeeping is done already. */
  private async switchSelf(image: VerifiedImage, commitTimeoutS: number, before: string): Promise<void> {
    const self = this.o.self;
    if (self === undefined || image.source === undefined) return;
    let staged: { slot: string; version: string };
    try {
      staged = self.stage(image.source, commitTimeoutS);
    } catch (e) {
      this.o.report.state("error", `${before}the CCM update was not staged: ${errorMessage(e)}`);
      return;
    }
    this.o.report.state(
      "applying",
      `${before}switching to ccm ${staged.version} in slot ${staged.slot}${commitTimeoutS > 0 ? `, uncommitted until OTA.Commit (${commitTimeoutS} s)` : ""}: the CCM restarts`,
    );
    try {
      await self.switchNow();
    } catch (e) {
      self.unstage();
      this.o.report.state(
        "error",
        `${before}the supervisor did not switch to ccm ${staged.version}: ${errorMessage(e)}`,
      );
      if (this.files.marker.phase === "applying" && !this.gaveUp) this.scheduleRetry();
    }
  }
}
