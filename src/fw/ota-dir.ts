/**
 * What `<data-dir>/ota/` holds: `incoming.zip` (arriving), `staged.zip` (verified, to go on the
 * host), `current.zip` (the last host image that flashed and answered: the previous image to flash
 * back) and `state.json`, the marker naming what the host must end up with. The marker is written
 * atomically, so a power cut leaves the old one or the new one.
 */
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { atomicWriteFileSync } from "../util/atomic-file.js";

export interface Marker {
  phase: "idle" | "applying" | "uncommitted";
  /** applying: the image the host must end up with (staged: the new one; current: the previous one). */
  image?: "staged" | "current";
  version?: string;
  /** The host has been changed since it last ran a complete image: a failure must flash it again. */
  touched?: boolean;
  /** Attempts at this image that changed the host and failed. */
  failures?: number;
  /** Why the image is flashed (again): the interruption, or why the new one was given up. */
  reason?: string;
  commitTimeout?: number;
  /** uncommitted: when the previous image is flashed back unless OTA.Commit came (ms since 1970). */
  revertAt?: number;
}

/** The OTA directory and its marker, as last written. */
export class OtaDir {
  readonly incoming: string;
  private readonly staged: string;
  private readonly current: string;
  private readonly markerFile: string;
  private m: Marker;

  constructor(dir: string) {
    this.incoming = join(dir, "incoming.zip");
    this.staged = join(dir, "staged.zip");
    this.current = join(dir, "current.zip");
    this.markerFile = join(dir, "state.json");
    this.m = this.load();
  }

  get marker(): Marker {
    return this.m;
  }

  save(m: Marker): void {
    this.m = m;
    atomicWriteFileSync(this.markerFile, JSON.stringify(m));
  }

  /** The staged or the previous image's bytes. */
  read(which: "staged" | "current"): Buffer {
    return readFileSync(which === "staged" ? this.staged : this.current);
  }

  /** Makes a verified bundle the staged image. */
  stage(file: string): void {
    renameSync(file, this.staged);
  }

  /** The staged image becomes the previous image of the next update. */
  promote(): void {
    renameSync(this.staged, this.current);
  }

  dropStaged(): void {
    rmSync(this.staged, { force: true });
  }

  drop(file: string): void {
    rmSync(file, { force: true });
  }

  /** Whether a previous image is kept to flash back. */
  hasPrevious(): boolean {
    return existsSync(this.current);
  }

  private load(): Marker {
    try {
      const m = JSON.parse(readFileSync(this.markerFile, "utf8")) as Marker;
      // A marker from before `image` was kept named the staged image.
      return m.phase === "applying" && m.image === undefined ? { ...m, image: "staged" } : m;
    } catch {
      return { phase: "idle" };
    }
  }
}
