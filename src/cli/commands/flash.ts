/**
 * `ccm flash FIRMWARE.BIN|fw.zip`: flashes an STM32 host through its ROM bootloader (AN3155); every
 * STM32 part of a bundle in one session (docs/stm32-flashing.md).
 */
import type { Command } from "@commander-js/extra-typings";
import { CcmError } from "../../errors.js";
import { loadFirmware } from "../../fw/firmware-file.js";
import { flashStm32 } from "../../fw/stm32/flasher.js";
import { parseLineControl } from "../../lines/line-control.js";
import { callFailure, CliError, EXIT, printResult } from "../output.js";
import { globalsOf, parseDuration, parseIntOption, requirePort } from "../options.js";
import { ProgressBar } from "../progress.js";

function parseAddress(text: string): number {
  const n = Number(text);
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text.trim()) || !Number.isSafeInteger(n) || n > 0xffff_ffff) {
    throw new CliError(`--addr must be an address such as 0x8000000, got "${text}"`, EXIT.usage);
  }
  return n;
}

/** Adds `flash` to the program. */
export function addFlashCommand(program: Command): void {
  program
    .command("flash")
    .description(
      "flash an STM32 host on --port through its ROM bootloader: reset into it with RST/BOOT0, erase, write, verify, start",
    )
    .argument(
      "<firmware>",
      "raw image (FIRMWARE.BIN, at --addr) or firmware bundle (fw.zip: every STM32 part at its addr, in one session)",
    )
    .option("--baud <n>", "bootloader speed, 8E1 (default: --baud-rate)")
    .option(
      "--lines <spec>",
      "how RST/BOOT0 are driven: none (already in the bootloader), dtr-rts, rts-dtr, gpiod:CHIP:RST,BOOT0 or sim:ADDR; :inv-rst / :inv-boot0 invert",
      "none",
    )
    .option("--addr <address>", "flash address of a raw image (a bundle's parts carry theirs)", "0x8000000")
    .option("--force", "flash a bundle whose platform is not ccm_host or stm32")
    .option("--no-verify", "skip reading every block back")
    .option("--no-confirm", "do not wait for the host to answer Sys.Info after the flash")
    .option("--retries <n>", "retries of a NACKed or unanswered command", "5")
    .action(async (firmware, opts, cmd) => {
      const globals = globalsOf(cmd);
      const port = requirePort(globals);
      const appBaud = parseIntOption(globals.baudRate, "--baud-rate");
      const baud = opts.baud === undefined ? appBaud : parseIntOption(opts.baud, "--baud");
      const retries = Number(opts.retries);
      if (!Number.isInteger(retries) || retries < 0)
        throw new CliError(`--retries must be 0 or more, got "${opts.retries}"`, EXIT.usage);
      let lines;
      let fw;
      try {
        lines = parseLineControl(opts.lines);
        fw = await loadFirmware(firmware, { force: opts.force === true });
      } catch (e) {
        throw callFailure(e);
      }
      if (fw.bundle && cmd.getOptionValueSource("addr") !== "default")
        throw new CliError(
          `--addr is for a raw image: the parts of ${firmware} carry their addr`,
          EXIT.usage,
        );
      const addr = parseAddress(opts.addr);
      const parts = fw.parts.map((p) => ({ name: p.name, address: p.address ?? addr, data: p.data }));
      const bar = new ProgressBar(process.stderr);
      const controller = new AbortController();
      const abort = (): void => {
        controller.abort();
      };
      process.once("SIGINT", abort);
      try {
        const result = await flashStm32({
          port,
          baud,
          appBaud,
          lines,
          parts,
          verify: opts.verify,
          retries,
          confirm: opts.confirm,
          confirmTimeoutMs: parseDuration(globals.timeout),
          signal: controller.signal,
          onStep: (step, detail) => {
            if (step === "get-id" && detail !== "") {
              bar.finishLine();
              process.stderr.write(`flash: ${detail}\n`);
            }
          },
          onProgress: (p) => {
            bar.update(p.step, p.done, p.total, p.step !== "erase");
          },
        });
        bar.finishLine();
        if (globals.json === true) {
          printResult(result, true);
        } else {
          const info = result.confirmed as { fw_version?: unknown } | undefined;
          const answered =
            info === undefined ? "" : `; the host answers, fw_version ${JSON.stringify(info.fw_version)}`;
          const n = result.blankBlocks;
          const blank = n === 0 ? "" : ` (${n} blank block${n === 1 ? "" : "s"} of 0xFF not sent)`;
          process.stdout.write(
            `flashed ${result.bytesWritten} bytes of ${fw.source} at ${parts.map((p) => `0x${p.address.toString(16)}`).join(", ")} to ${result.device} ` +
              `in ${(result.durationMs / 1000).toFixed(1)} s${result.verified ? ", verified" : ""}${blank}${answered}\n`,
          );
        }
      } catch (e) {
        bar.finishLine();
        if (e instanceof CcmError) throw callFailure(e);
        throw e;
      } finally {
        process.off("SIGINT", abort);
        await lines.close();
      }
    });
}
