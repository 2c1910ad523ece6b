/**
 * `ccm supervise`: runs `ccm start` from the active install slot and does self-update swaps and
 * reverts (src/fw/supervisor.ts). `ccm self-update`: stages a bundle's `type=ccm` part and tells the
 * supervisor to switch.
 */
import type { Command } from "@commander-js/extra-typings";
import { readFileSync } from "node:fs";
import { ConfigStore } from "../../config/store.js";
import { errorMessage, isCcmError } from "../../errors.js";
import { Supervisor } from "../../fw/supervisor.js";
import { pidPath, stageSelfUpdate } from "../../fw/slots.js";
import { createLogger } from "../../log/logger.js";
import { CliError, EXIT } from "../output.js";
import { parseDuration, parseIntOption } from "../options.js";
import { readTrustedKeys } from "./fw-bundle.js";
import { defaultDataDir } from "./start.js";

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** The supervisor's pid when one is running for `dataDir`. */
function runningSupervisor(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidPath(dataDir), "utf8").trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** Adds `supervise` and `self-update` to the program. */
export function addSuperviseCommands(program: Command): void {
  program
    .command("supervise")
    .description(
      "run `ccm start` from the active install slot, switching to self-updates and reverting failed ones (what systemd runs)",
    )
    .argument("[start-args...]", "arguments for `ccm start`, after --, e.g. -- --host-port /dev/ttyUSB0")
    .option("--data-dir <dir>", "the CCM's data dir, passed on to start (default $CCM_DATA_DIR or ~/.ccm)")
    .action(async (startArgs, opts) => {
      const dataDir = opts.dataDir ?? defaultDataDir();
      const supervisor = new Supervisor({
        dataDir,
        startArgs,
        base: { execArgv: process.execArgv, main: process.argv[1]! },
        logger: createLogger(2).child("supervisor"),
      });
      const onHup = (): void => {
        supervisor.reload();
      };
      const onStop = (): void => {
        process.off("SIGHUP", onHup);
        void supervisor.stop();
      };
      process.on("SIGHUP", onHup);
      process.once("SIGINT", onStop);
      process.once("SIGTERM", onStop);
      await supervisor.run();
    });
  program
    .command("self-update")
    .description(
      "install a bundle's type=ccm part into the spare slot and have the supervisor start it, uncommitted",
    )
    .argument("<bundle>", "the bundle, e.g. ccm.zip")
    .option("--data-dir <dir>", "the CCM's data dir (default $CCM_DATA_DIR or ~/.ccm)")
    .option(
      "--trusted-key <file>",
      "PEM public key the bundle must be signed with; repeatable (default: config ota.trusted_keys)",
      collect,
      [],
    )
    .option(
      "--commit-timeout <duration>",
      "time to OTA.Commit before reverting; 0: commit once healthy (default: config ota.commit_timeout)",
    )
    .option("--boot-attempts <n>", "failed starts before reverting (default: config ota.boot_attempts)")
    .option(
      "--healthy-after <duration>",
      "run time that counts as a healthy start (default: config ota.healthy_after)",
    )
    .option("--no-switch", "stage only; the supervisor switches on SIGHUP or its next start")
    .action((file, opts) => {
      const dataDir = opts.dataDir ?? defaultDataDir();
      let ota;
      try {
        ota = ConfigStore.open({ dataDir }).config.ota;
      } catch (e) {
        throw new CliError(errorMessage(e), EXIT.usage);
      }
      const keyFiles =
        opts.trustedKey.length > 0
          ? opts.trustedKey
          : ota.trusted_keys
              .split(",")
              .map((s) => s.trim())
              .filter((s) => s !== "");
      const seconds = (d: string | undefined, def: number): number =>
        d === undefined ? def : Math.round(parseDuration(d) / 1000);
      let staged;
      try {
        staged = stageSelfUpdate(dataDir, readFileSync(file), {
          trustedKeys: readTrustedKeys(keyFiles),
          commitTimeout: seconds(opts.commitTimeout, ota.commit_timeout),
          bootAttempts:
            opts.bootAttempts === undefined
              ? ota.boot_attempts
              : parseIntOption(opts.bootAttempts, "--boot-attempts"),
          healthyAfter: seconds(opts.healthyAfter, ota.healthy_after),
        });
      } catch (e) {
        if (e instanceof CliError) throw e;
        throw new CliError(errorMessage(e), isCcmError(e, "BAD_ARGUMENT") ? EXIT.usage : EXIT.remoteError);
      }
      process.stdout.write(`staged ccm ${staged.version} in slot ${staged.slot}\n`);
      if (!opts.switch) return;
      const pid = runningSupervisor(dataDir);
      if (pid === undefined) {
        process.stdout.write("no supervisor is running; the update starts with `ccm supervise`\n");
        return;
      }
      process.kill(pid, "SIGHUP");
      process.stdout.write(`supervisor ${pid} is switching to it, uncommitted\n`);
    });
}
