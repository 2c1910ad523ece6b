/** What the OTA service (host-ota.ts, host-apply.ts) and the parts it drives hand each other. */

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

/** What the apply step tells while it works. */
export interface ApplyHooks {
  progress: (p: OtaProgress) => void;
  /** Called as the host starts being changed (the first erase): from here a failure needs a re-flash. */
  touched: () => void;
  /** Called once the image is written and verified; what is left is the host's answer. */
  flashed: () => void;
}

/** The CCM's own update, as the supervisor takes it (slots.ts, boot-control.ts). */
export interface SelfUpdater {
  /** Throws, saying why, when this CCM cannot take a self-update now (no supervisor, one uncommitted). */
  check: () => void;
  /** Unpacks the bundle's ccm part into the spare slot and leaves it pending for the supervisor. */
  stage: (bundle: Buffer, commitTimeoutS: number) => { slot: string; version: string };
  /** Asks the supervisor to switch to the staged version now; it then stops this process. */
  switchNow: () => Promise<void>;
  /** Drops a staged version the supervisor did not take. */
  unstage: () => void;
}

/** A part of `type=ccm`: the CCM's own update, not the host's. */
export const isSelfPart = (p: { type: string }): boolean => p.type.toLowerCase() === "ccm";
