/**
 * `ccm ota FW.ZIP`: a firmware update over any `--port`, as `mos ota` does it (mos-protocols.md §9:
 * OTA.Status must be idle or error, OTA.Begin {size, timeout, commit_timeout}, OTA.Write in 512-byte
 * chunks with 3 attempts each, OTA.End), then, unlike mos, it follows OTA.Status until the CCM has
 * applied the image and says what the host runs now; after a CCM update, until the CCM is back on
 * the new version (or the supervisor went back to the old one).
 */
import type { Command } from "@commander-js/extra-typings";
import { readFile } from "node:fs/promises";
import type { RpcClient } from "../../channels/client/rpc-client.js";
import { errorMessage } from "../../errors.js";
import { CliError, EXIT } from "../output.js";
import { globalsOf, parseDuration, parseIntOption } from "../options.js";
import { withClient } from "../session.js";

interface Status {
  state: number;
  message?: string;
  version?: string;
  host_fw_version?: string;
  progress?: { step: string; done: number; total: number };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function attempt<T>(what: () => Promise<T>, tries = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await what();
    } catch (e) {
      if (i >= tries) throw e;
    }
  }
}

/** What `ccm ota` ends with: the CCM's last OTA.Status, or word that the CCM restarts into its update. */
export type OtaOutcome = Status & { ccmRestarts?: { version: string } };

/**
 * Sends `zip` and waits for the CCM to apply it; returns the final status. A CCM update ends with
 * the CCM restarting into it: the status then carries `ccmRestarts` (see {@link waitForCcm}).
 */
export async function otaUpdate(
  client: RpcClient,
  zip: Buffer,
  o: { chunk: number; timeoutS: number; commitTimeoutS?: number; log: (line: string) => void },
): Promise<OtaOutcome> {
  const before = (await client.call("OTA.Status")) as Status;
  if (before.state !== 0 && before.state !== 2)
    throw new CliError(`update is already in progress (${before.state}), call OTA.End`, EXIT.remoteError);
  await client.call("OTA.Begin", {
    size: zip.length,
    timeout: o.timeoutS,
    ...(o.commitTimeoutS === undefined ? {} : { commit_timeout: o.commitTimeoutS }),
  });
  let lastTenth = -1;
  for (let offset = 0; offset < zip.length; offset += o.chunk) {
    const data = zip.subarray(offset, offset + o.chunk).toString("base64");
    try {
      await attempt(() => client.call("OTA.Write", { offset, data }));
    } catch (e) {
      await client.call("OTA.End").catch(() => undefined);
      throw e;
    }
    const tenth = Math.floor((10 * (offset + o.chunk)) / zip.length);
    if (tenth !== lastTenth) {
      lastTenth = tenth;
      o.log(`sent ${Math.min(offset + o.chunk, zip.length)} of ${zip.length} bytes`);
    }
  }
  const staged = (await client.call("OTA.End")) as { version?: string; ccm_restarts?: boolean };
  o.log(`verified and staged ${staged.version ?? ""}; the CCM is applying it`);
  const deadline = Date.now() + o.timeoutS * 1000;
  let last = "";
  for (;;) {
    let s: Status;
    try {
      s = (await attempt(() => client.call("OTA.Status"))) as Status;
    } catch (e) {
      // The CCM restarting into its own update takes its RPC server down.
      if (staged.ccm_restarts === true) return { state: 3, ccmRestarts: { version: staged.version ?? "" } };
      throw e;
    }
    if (s.state === 0 || s.state === 2) return s;
    const line =
      s.progress === undefined
        ? (s.message ?? "")
        : `${s.progress.step} ${Math.floor((100 * s.progress.done) / Math.max(1, s.progress.total))}%`;
    if (line !== last && line !== "") o.log(line);
    last = line;
    if (Date.now() > deadline)
      throw new CliError(`the update did not finish within ${o.timeoutS} s`, EXIT.unreachable);
    await sleep(250);
  }
}

interface BootState {
  active_slot: string;
  is_committed: boolean;
  commit_timeout: number;
  version?: string;
  last_revert?: { from: string; to: string; reason: string; at: string };
}

/**
 * After a CCM update: reconnects until the CCM answers OTA.GetBootState again, and returns it when
 * it runs `version`; throws when the supervisor went back to the previous version instead.
 */
export async function waitForCcm(
  connect: <T>(fn: (c: RpcClient) => Promise<T>) => Promise<T>,
  version: string,
  before: BootState["last_revert"],
  o: { timeoutS: number; log: (line: string) => void },
): Promise<BootState> {
  const deadline = Date.now() + o.timeoutS * 1000;
  o.log(`the CCM restarts into ccm ${version}; waiting for it to answer`);
  for (;;) {
    let boot: BootState | undefined;
    try {
      boot = await connect(async (c) => (await c.call("OTA.GetBootState")) as BootState);
    } catch {
      boot = undefined;
    }
    const revert = boot?.last_revert;
    if (revert !== undefined && revert.at !== before?.at)
      throw new CliError(
        `the CCM went back from slot ${revert.from} to ${revert.to}: ${revert.reason}`,
        EXIT.remoteError,
      );
    if (boot?.version === version) return boot;
    if (Date.now() > deadline)
      throw new CliError(
        `the CCM did not come back with ccm ${version} within ${o.timeoutS} s`,
        EXIT.unreachable,
      );
    await sleep(500);
  }
}

/** `--commit-timeout`: plain seconds (as mos takes `300`) or a duration (`300s`, `5m`). */
function commitTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const secs = /^\d+$/.test(text.trim()) ? Number(text) : parseDuration(text) / 1000;
  if (!Number.isInteger(secs) || secs < 0)
    throw new CliError(`--commit-timeout must be 0 or more whole seconds, got "${text}"`, EXIT.usage);
  return secs;
}

/** Adds `ota` to the program. */
export function addOtaCommand(program: Command): void {
  program
    .command("ota")
    .description("update the firmware of the device at --port from a bundle (fw.zip), as mos ota does")
    .argument("<bundle>", "firmware bundle made by create-fw-bundle (or mos create-fw-bundle)")
    .option("--chunk-size <bytes>", "bytes per OTA.Write", "512")
    .option("--update-timeout <seconds>", "how long the whole update may take", "600")
    .option(
      "--commit-timeout <seconds>",
      "keep the update uncommitted until OTA.Commit, reverting it after this long (default: the CCM's ota.commit_timeout; 0: commit at once)",
    )
    .action(async (file, opts, cmd) => {
      let zip: Buffer;
      try {
        zip = await readFile(file);
      } catch (e) {
        throw new CliError(`cannot read ${file}: ${errorMessage(e)}`, EXIT.usage);
      }
      const chunk = parseIntOption(opts.chunkSize, "--chunk-size");
      const timeoutS = parseIntOption(opts.updateTimeout, "--update-timeout");
      const commitTimeoutS = commitTimeout(opts.commitTimeout);
      const log = (l: string): void => {
        process.stderr.write(`${l}\n`);
      };
      const globals = globalsOf(cmd);
      const { s, before } = await withClient(globals, async (c) => {
        const boot = (await c.call("OTA.GetBootState").catch(() => undefined)) as BootState | undefined;
        const result = await otaUpdate(c, zip, {
          chunk,
          timeoutS,
          log,
          ...(commitTimeoutS === undefined ? {} : { commitTimeoutS }),
        });
        return { s: result, before: boot?.last_revert };
      });
      if (s.ccmRestarts !== undefined) {
        const boot = await waitForCcm((fn) => withClient(globals, fn), s.ccmRestarts.version, before, {
          timeoutS,
          log,
        });
        const committed = boot.is_committed
          ? "committed"
          : `uncommitted${boot.commit_timeout > 0 ? `: OTA.Commit within ${boot.commit_timeout} s keeps it` : ""}`;
        log(`done: ccm ${s.ccmRestarts.version} runs in slot ${boot.active_slot}, ${committed}`);
        process.stdout.write(`${s.ccmRestarts.version}\n`);
        return;
      }
      if (s.state === 2)
        throw new CliError(`update failed: ${s.message ?? "unknown error"}`, EXIT.remoteError);
      log(`done: ${s.message ?? ""}`);
      if (s.host_fw_version !== undefined) process.stdout.write(`${s.host_fw_version}\n`);
    });
}
