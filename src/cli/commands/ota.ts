/**
 * `ccm ota FW.ZIP`: a firmware update over any `--port`, as `mos ota` does it (mos-protocols.md §9:
 * OTA.Status must be idle or error, OTA.Begin {size, timeout, commit_timeout}, OTA.Write in 512-byte
 * chunks with 3 attempts each, OTA.End), then, unlike mos, it follows OTA.Status until the CCM has
 * applied the image and says what the host runs now.
 */
import type { Command } from "@commander-js/extra-typings";
import { readFile } from "node:fs/promises";
import type { RpcClient } from "../../channels/client/rpc-client.js";
import { errorMessage } from "../../errors.js";
import { CliError, EXIT } from "../output.js";
import { globalsOf, parseIntOption } from "../options.js";
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

/** Sends `zip` and waits for the CCM to apply it; returns the final status. */
export async function otaUpdate(
  client: RpcClient,
  zip: Buffer,
  o: { chunk: number; timeoutS: number; commitTimeoutS: number; log: (line: string) => void },
): Promise<Status> {
  const before = (await client.call("OTA.Status")) as Status;
  if (before.state !== 0 && before.state !== 2)
    throw new CliError(`update is already in progress (${before.state}), call OTA.End`, EXIT.remoteError);
  await client.call("OTA.Begin", { size: zip.length, timeout: o.timeoutS, commit_timeout: o.commitTimeoutS });
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
  const staged = (await client.call("OTA.End")) as { version?: string };
  o.log(`verified and staged ${staged.version ?? ""}; the CCM is applying it`);
  const deadline = Date.now() + o.timeoutS * 1000;
  let last = "";
  for (;;) {
    const s = (await attempt(() => client.call("OTA.Status"))) as Status;
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

/** Adds `ota` to the program. */
export function addOtaCommand(program: Command): void {
  program
    .command("ota")
    .description("update the firmware of the device at --port from a bundle (fw.zip), as mos ota does")
    .argument("<bundle>", "firmware bundle made by create-fw-bundle (or mos create-fw-bundle)")
    .option("--chunk-size <bytes>", "bytes per OTA.Write", "512")
    .option("--update-timeout <seconds>", "how long the whole update may take", "600")
    .option("--commit-timeout <seconds>", "passed to OTA.Begin (self-updates: revert unless committed)", "0")
    .action(async (file, opts, cmd) => {
      let zip: Buffer;
      try {
        zip = await readFile(file);
      } catch (e) {
        throw new CliError(`cannot read ${file}: ${errorMessage(e)}`, EXIT.usage);
      }
      const chunk = parseIntOption(opts.chunkSize, "--chunk-size");
      const timeoutS = parseIntOption(opts.updateTimeout, "--update-timeout");
      const commitTimeoutS = Number(opts.commitTimeout);
      if (!Number.isInteger(commitTimeoutS) || commitTimeoutS < 0)
        throw new CliError(
          `--commit-timeout must be 0 or more seconds, got "${opts.commitTimeout}"`,
          EXIT.usage,
        );
      const s = await withClient(globalsOf(cmd), (c) =>
        otaUpdate(c, zip, { chunk, timeoutS, commitTimeoutS, log: (l) => process.stderr.write(`${l}\n`) }),
      );
      if (s.state === 2)
        throw new CliError(`update failed: ${s.message ?? "unknown error"}`, EXIT.remoteError);
      process.stderr.write(`done: ${s.message ?? ""}\n`);
      if (s.host_fw_version !== undefined) process.stdout.write(`${s.host_fw_version}\n`);
    });
}
