/** `ccm host-sim`: a simulated host MCU on a serial path, for trying the CCM without hardware. */
import type { Command } from "@commander-js/extra-typings";
import { delay, drop, garbage, logLines, resets, split, type HostBehavior } from "../../sim/behaviors.js";
import { HostSimulator } from "../../sim/host-simulator.js";
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
    .action(async (opts, cmd) => {
      const globals = globalsOf(cmd);
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
      const sim = new HostSimulator({
        port: requirePort(globals),
        baud: parseIntOption(globals.baudRate, "--baud-rate"),
        fwVersion: opts.fwVersion,
        behaviors,
      });
      sim.on("notification", (method, params) => {
        process.stderr.write(`host-sim: got ${method} ${JSON.stringify(params)}\n`);
      });
      await sim.start();
      process.stderr.write(
        `host-sim: running on ${globals.port ?? ""} (fw ${opts.fwVersion}); Ctrl-C to stop\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          sim.stop().then(resolve, resolve);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}
