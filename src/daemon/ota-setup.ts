/**
 * Puts the host-update service together: bundles read with every check (src/fw/bundle.ts, signed
 * by `ota.trusted_keys` when set), the STM32 parts flashed together in one session of the host's ROM
 * bootloader on the host UART (`host.lines` drives RST/BOOT0), the host's answer awaited, `type=ccm`
 * parts handed to the supervisor as a self-update (refused up front when no supervisor runs this CCM); downloads trust
 * `ota.ssl_ca`; progress reported into the shadow's reported `ota`.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import type { CcmConfig } from "../config/schema.js";
import { CcmError, errorMessage } from "../errors.js";
import type { BootControl } from "../fw/boot-control.js";
import { readBundle } from "../fw/bundle.js";
import { HostOta, type ApplyHooks, type SelfUpdater, type VerifiedImage } from "../fw/host-ota.js";
import { clearPending, loadState, stageSelfUpdate } from "../fw/slots.js";
import { flashStm32 } from "../fw/stm32/flasher.js";
import { checkParts } from "../fw/stm32/image-plan.js";
import { parseLineControl } from "../lines/line-control.js";
import type { Logger } from "../log/logger.js";
import type { MethodRegistry } from "../rpc/registry.js";
import type { ShadowService } from "../shadow/service.js";
import { fsRoot } from "./fs-service.js";
import type { HostLink } from "./host-link.js";

/** Platforms a CCM applies: host firmware (mos's name for CCM hosts) and the CCM itself. */
const PLATFORMS = new Set(["ccm_host", "ccm"]);

/** The public keys `ota.trusted_keys` names (comma-separated PEM files). */
export function trustedKeys(list: string): KeyObject[] {
  return list
    .split(",")
    .map((f) => f.trim())
    .filter((f) => f !== "")
    .map((f) => {
      try {
        return createPublicKey(readFileSync(f));
      } catch (e) {
        throw new CcmError("CONFIG_INVALID", `ota.trusted_keys: ${f}: ${errorMessage(e)}`);
      }
    });
}

/**
 * Reads and checks a bundle for this CCM: platform, checksums, signature, parts it can apply, STM32
 * parts that each have an addr and do not overlap.
 */
export function verifyForCcm(zip: Buffer, keys: readonly KeyObject[]): VerifiedImage {
  const b = readBundle(zip, keys.length > 0 ? { trustedKeys: keys } : {});
  const platform = b.manifest.platform.toLowerCase();
  if (!PLATFORMS.has(platform))
    throw new CcmError(
      "BUNDLE_INVALID",
      `the bundle is for platform "${b.manifest.platform}"; a CCM takes ccm_host (host firmware) or ccm bundles`,
    );
  const parts = b.parts.filter((p) => p.type.toUpperCase() === "STM32" || p.type.toLowerCase() === "ccm");
  if (parts.length === 0)
    throw new CcmError(
      "BUNDLE_INVALID",
      `nothing to apply: the bundle has no part of type STM32 (the host) or ccm (the CCM itself); it has ${b.parts.map((p) => `${p.name}:${p.type}`).join(", ")}`,
    );
  const stm32 = parts.filter((p) => p.type.toUpperCase() === "STM32");
  for (const p of stm32)
    if (p.addr === undefined)
      throw new CcmError("BUNDLE_INVALID", `part ${p.name}: an STM32 part needs addr`);
  try {
    if (stm32.length > 1)
      checkParts(stm32.map((p) => ({ name: p.name, address: p.addr ?? 0, data: p.data })));
  } catch (e) {
    throw new CcmError("BUNDLE_INVALID", errorMessage(e));
  }
  const version =
    typeof b.manifest.version === "string" && b.manifest.version !== ""
      ? b.manifest.version
      : typeof b.manifest.build_id === "string"
        ? b.manifest.build_id
        : "";
  return {
    version,
    parts: parts.map((p) => ({
      name: p.name,
      type: p.type,
      data: p.data,
      ...(p.addr === undefined ? {} : { addr: p.addr }),
    })),
    source: zip,
  };
}

/** Resolves with the host's Sys.Info once it is ready again and (when given) runs `version`. */
function hostAnswers(host: HostLink, version: string, timeoutS: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const info = host.info.sys_info;
      if (host.state !== "ready" || info === null) return false;
      if (version !== "" && info.fw_version !== version) return false;
      host.off("ready", onReady);
      clearTimeout(timer);
      resolve(info);
      return true;
    };
    const onReady = (): void => {
      check();
    };
    const timer = setTimeout(() => {
      host.off("ready", onReady);
      const now = host.info.sys_info?.fw_version;
      reject(
        new CcmError(
          "OTA_FAILED",
          `the host did not answer Sys.Info${version === "" ? "" : ` with fw_version ${version}`} within ${timeoutS} s after flashing${now === undefined ? "" : ` (it says ${JSON.stringify(now)})`}`,
        ),
      );
    }, timeoutS * 1000);
    host.on("ready", onReady);
  });
}

/** The CCM's own updates through the supervisor: refused, touching nothing, when none runs this CCM. */
function selfUpdater(o: {
  dataDir: string;
  boot: BootControl;
  keys: readonly KeyObject[];
  config: CcmConfig;
  logger: Logger;
}): SelfUpdater {
  return {
    check: () => {
      if (!o.boot.supervised)
        throw new CcmError(
          "UPDATE_FAILED",
          "a CCM update needs the supervisor: this CCM was not started by `ccm supervise`",
        );
      const state = loadState(o.dataDir);
      if (!state.committed)
        throw new CcmError(
          "UPDATE_FAILED",
          `slot ${state.active} runs an uncommitted CCM update; commit (OTA.Commit) or revert it first`,
        );
    },
    stage: (bundle, commitTimeoutS) => {
      const pending = stageSelfUpdate(o.dataDir, bundle, {
        trustedKeys: o.keys,
        commitTimeout: commitTimeoutS,
        bootAttempts: o.config.ota.boot_attempts,
        healthyAfter: o.config.ota.healthy_after,
      });
      o.logger.info(`CCM update staged: ${JSON.stringify(pending)}; switching`);
      return pending;
    },
    switchNow: () => o.boot.switchToStaged(),
    unstage: () => {
      clearPending(o.dataDir);
    },
  };
}

/** `ota.ssl_ca` read (relative names are FS.Put files), or undefined when unset. */
function otaCa(file: string, dataDir: string): string | undefined {
  if (file === "") return undefined;
  const path = isAbsolute(file) ? file : join(fsRoot(dataDir), file);
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new CcmError("CONFIG_INVALID", `ota.ssl_ca: cannot read ${path}: ${errorMessage(e)}`);
  }
}

export function createHostOta(o: {
  config: CcmConfig;
  dataDir: string;
  registry: MethodRegistry;
  host: HostLink;
  shadow: ShadowService | undefined;
  boot: BootControl;
  logger: Logger;
}): HostOta | undefined {
  const c = o.config;
  if (!c.ota.enable) return undefined;
  const keys = trustedKeys(c.ota.trusted_keys);
  const ca = otaCa(c.ota.ssl_ca, o.dataDir);
  const flashParts = async (image: VerifiedImage, hooks: ApplyHooks): Promise<unknown> => {
    const stm32 = image.parts.filter((p) => p.type.toUpperCase() === "STM32");
    if (stm32.length === 0) return undefined;
    if (c.host.port === "") throw new CcmError("OTA_FAILED", "no host port configured (host.port)");
    const lines = parseLineControl(c.host.lines);
    await o.host.stop();
    // Progress steps read "host_fw write", or "host_fw+host_fw_1 write" for several parts.
    const names = stm32.map((p) => p.name).join("+");
    try {
      o.logger.info(
        `flashing ${stm32.map((p) => `${p.name} (${p.data.length} bytes) at 0x${(p.addr ?? 0x0800_0000).toString(16)}`).join(", ")}`,
      );
      // All parts in one bootloader session: a page two parts share is erased once.
      await flashStm32({
        port: c.host.port,
        baud: c.host.flash_baud,
        appBaud: c.host.baud,
        lines,
        parts: stm32.map((p) => ({ name: p.name, address: p.addr ?? 0x0800_0000, data: p.data })),
        verify: true,
        // The flasher erases nothing before this step: a failure before it leaves the host as it was.
        onStep: (step) => {
          if (step === "erase") hooks.touched();
        },
        onProgress: (p) => {
          hooks.progress({ step: `${names} ${p.step}`, done: p.done, total: p.total });
        },
      });
    } finally {
      await lines.close();
      o.host.start();
    }
    hooks.flashed();
    return hostAnswers(o.host, image.version, c.host.confirm_s);
  };
  const ota = new HostOta({
    dir: join(o.dataDir, "ota"),
    registry: o.registry,
    verify: (zip) => verifyForCcm(zip, keys),
    apply: flashParts,
    self: selfUpdater({ dataDir: o.dataDir, boot: o.boot, keys, config: c, logger: o.logger }),
    report: (status) => {
      const shadow = o.shadow?.backend;
      if (shadow === undefined) return;
      // As Shadow.Report does: a backend that can hold reports (AWS mode) keeps this one while offline.
      const reported = { ota: status };
      (shadow.report?.(reported) ?? shadow.update({ state: { reported } })).catch((e: unknown) => {
        o.logger.debug(`ota status not reported to the shadow: ${errorMessage(e)}`);
      });
    },
    hostVersion: () => {
      const v = o.host.info.sys_info?.fw_version;
      return typeof v === "string" ? v : undefined;
    },
    logger: o.logger,
    timeoutS: c.ota.timeout,
    commitTimeoutS: c.ota.commit_timeout,
    maxSize: c.ota.max_size,
    ...(ca === undefined ? {} : { ca }),
    pollUrl: c.ota.poll_url,
    pollIntervalS: c.ota.poll_interval_s,
  });
  o.shadow?.addDeltaFilter((delta) => ota.shadowDelta(delta));
  // A host unplugged mid-flash is flashed again when its UART is back.
  o.host.on("state", (state) => {
    if (state === "up") ota.hostBack();
  });
  return ota;
}
