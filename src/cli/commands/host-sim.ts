/** `ccm host-sim`: a simulated host MCU on a serial path, for trying the CCM without hardware. */
import type { Command } from "@commander-js/extra-typings";
import { delay, drop, garbage, logLines, resets, split, type HostBehavior } from "../../sim/behaviors.js";
import { HostSimulator } from "../../sim/host-simulator.js";
import { CHIPS } from "../../sim/stm32/chips.js";
import { makeFirmwareImage } from "../../sim/stm32/image.js";
import { listenSimLines, type SimLinesServer } from "../../sim/stm32/lines-server.js";
import { Stm32Mcu } from "../../sim/stm32/mcu.js";
import { parseIntOption, requirePort, globalsOf } from "../options.js";
import { CliError, EXIT } from "../output.js";

/** Adds `host-sim` to the program. */
export function addHostSimCommand(program: Command): void {
  program
    .command("host-sim")
    .description(
      "run a simulated host (an mjson Arduino sketch: Sum, Shadow.Delta, Sys.Info, RPC.List) on --port",
    )
    .option("--fw-version <v>", "firmware version it reports in Sys.Info", "1.0")
    .option("--delay <ms>", "answer every frame this late")
    .option("--drop <rate>", "lose this fraction (0..1) of outgoing frames")
    .option("--split <bytes>", "write frames in pieces of this many bytes")
    .option("--log-every <ms>", "print a log line this often")
    .option("--garbage-every <ms>", "print a line of random bytes this often")
    .option("--reset-every <ms>", "reset (uptime to 0, state lost) this often")
    .option(
      "--mode <mode>",
      "what runs at start: app (the firmware) or bootloader (the STM32 ROM bootloader, as with BOOT0 high)",
      "app",
    )
    .option(
      "--chip <pid>",
      `STM32 part the bootloader emulates: ${CHIPS.map((c) => `0x${c.pid.toString(16)} (${c.name})`).join(", ")}`,
      "0x410",
    )
    .option(
      "--lines-listen <addr>",
      "serve RST/BOOT0 on HOST:PORT, PORT or a unix socket path, for `ccm flash --lines sim:ADDR` (port 0: any)",
    )
    .option("--flash-file <path>", "keep the flash contents in this file across runs")
    .option("--no-pacing", "answer the bootloader at once instead of at wire, program and erase speed")
    .option("--nack <n>", "the bootloader NACKs the next N commands (a NACK storm)")
    .action(async (opts, cmd) => {
      const globals = globalsOf(cmd);
      if (opts.mode !== "app" && opts.mode !== "bootloader")
        throw new CliError(`--mode must be app or bootloader, got "${opts.mode}"`, EXIT.usage);
      const pid = Number(opts.chip);
      if (!CHIPS.some((c) => c.pid === pid))
        throw new CliError(
          `--chip ${opts.chip} is not emulated; known: ${CHIPS.map((c) => `0x${c.pid.toString(16)}`).join(", ")}`,
          EXIT.usage,
        );
      const baud = parseIntOption(globals.baudRate, "--baud-rate");
      const behaviors: HostBehavior[] = [];
      if (opts.split !== undefined) behaviors.push(split(parseIntOption(opts.split, "--split")));
      if (opts.delay !== undefined) behaviors.push(delay(parseIntOption(opts.delay, "--delay")));
      if (opts.drop !== undefined) {
        const rate = Number(opts.drop);
        if (!(rate >= 0 && rate <= 1)) throw new CliError("--drop must be between 0 and 1", EXIT.usage);
        behaviors.push(drop(rate));
      }
      if (opts.logEvery !== undefined) behaviors.push(logLines(parseIntOption(opts.logEvery, "--log-every")));
      if (opts.garbageEvery !== undefined)
        behaviors.push(garbage(parseIntOption(opts.garbageEvery, "--garbage-every")));
      if (opts.resetEvery !== undefined)
        behaviors.push(resets(parseIntOption(opts.resetEvery, "--reset-every")));
      const mcu = new Stm32Mcu({
        chip: pid,
        mode: opts.mode,
        baud,
        pacing: opts.pacing,
        initialImage: makeFirmwareImage({ version: opts.fwVersion }),
        ...(opts.flashFile === undefined ? {} : { flashFile: opts.flashFile }),
      });
      if (opts.nack !== undefined) mcu.injectNacks(parseIntOption(opts.nack, "--nack"));
      const sim = new HostSimulator({
        port: requirePort(globals),
        baud,
        fwVersion: opts.fwVersion,
        behaviors,
        mcu,
      });
      mcu.on("personality", (p) => {
        process.stderr.write(
          `host-sim: ${p}${p === "app" ? ` (fw ${mcu.firmwareVersion ?? "unknown"})` : ""}\n`,
        );
      });
      sim.on("notification", (method, params) => {
        process.stderr.write(`host-sim: got ${method} ${JSON.stringify(params)}\n`);
      });
      await sim.start();
      let lines: SimLinesServer | undefined;
      if (opts.linesListen !== undefined) {
        lines = await listenSimLines(mcu, opts.linesListen);
        process.stderr.write(`host-sim: sim lines on ${lines.address}\n`);
      }
      process.stderr.write(
        `host-sim: running on ${globals.port ?? ""} (${mcu.chip.name}, ${mcu.personality}, fw ${mcu.firmwareVersion ?? "unknown"}); Ctrl-C to stop\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          void lines?.close();
          sim.stop().then(resolve, resolve);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}
