/**
 * `ccm demo`: the CCM on its embedded defaults with nothing to wire. A socat null-modem cable joins
 * the daemon to a simulated host, a second one carries RPC for `ccm call`; both are real ptys.
 */
import type { Command } from "@commander-js/extra-typings";
import { mkdir, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../config/load.js";
import { Daemon } from "../../daemon/daemon.js";
import { errorMessage } from "../../errors.js";
import { createLogger } from "../../log/logger.js";
import { HostSimulator } from "../../sim/host-simulator.js";
import { startPtyPair, type PtyPair } from "../../transports/pty-pair.js";
import { CliError, EXIT } from "../output.js";
import { parseDuration } from "../options.js";

/** 127.0.0.1:8000 when it is free, else any free port: the demo must start on a busy machine too. */
async function demoListen(): Promise<string> {
  const free = await new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once("error", () => {
      resolve(false);
    });
    probe.listen(8000, "127.0.0.1", () => {
      probe.close(() => {
        resolve(true);
      });
    });
  });
  return free ? "127.0.0.1:8000" : "127.0.0.1:0";
}

/** Adds `demo` to the program. */
export function addDemoCommand(program: Command): void {
  program
    .command("demo")
    .description("run the CCM with a simulated host on a virtual serial cable, and show how to call it")
    .option("--dir <dir>", "where the cable ends and the data dir go", join(tmpdir(), "ccm-demo"))
    .option("--for <duration>", "stop after this long (default: until Ctrl-C)")
    .option(
      "--http-listen <addr>",
      "HTTP and WebSocket RPC address (default 127.0.0.1:8000, or a free port when 8000 is taken)",
    )
    .option("--verbose", "log what the daemon does")
    .action(async (opts) => {
      const dir = opts.dir;
      await mkdir(dir, { recursive: true });
      const cables: PtyPair[] = [];
      const stopAll = async (): Promise<void> => {
        for (const c of cables) await c.kill();
      };
      try {
        cables.push(await startPtyPair(join(dir, "host"), join(dir, "host-sim")));
        cables.push(await startPtyPair(join(dir, "rpc-ccm"), join(dir, "rpc")));
      } catch (e) {
        await stopAll();
        throw new CliError(`cannot make the virtual serial cables: ${errorMessage(e)}`, EXIT.unreachable);
      }
      const [host, rpc] = cables as [PtyPair, PtyPair];
      const config = loadConfig({
        overrides: {
          device: { id: "ccm_demo" },
          host: { port: host.a },
          rpc: { uart: { port: rpc.a }, http: { listen: opts.httpListen ?? (await demoListen()) } },
        },
      });
      const logger = createLogger(opts.verbose === true ? 3 : 1);
      const daemon = new Daemon({ config, dataDir: join(dir, "data"), logger });
      const sim = new HostSimulator({ port: host.b, fwVersion: "1.0" });
      await sim.start();
      await daemon.start();
      await new Promise<void>((resolve) =>
        daemon.host.once("ready", () => {
          resolve();
        }),
      );
      const sum = await daemon.host.call("Sum", [2, 3]);
      const port = rpc.b;
      const http = daemon.httpUrl ?? "";
      process.stdout.write(
        [
          `ccm demo: CCM ${daemon.deviceId} is talking to a simulated host over ${host.a}`,
          `  CCM -> host: Sum [2,3] = ${JSON.stringify(sum)}; host Sys.Info: ${JSON.stringify(daemon.host.info.sys_info)}`,
          "",
          "Try, in another terminal:",
          `  npx ccm --port ${port} call Sys.GetInfo`,
          `  npx ccm --port ${port} call RPC.List`,
          `  npx ccm --port ${port} call Sum '[2,3]'              # served by the host, through the CCM`,
          `  npx ccm --port ${port} call Shadow.Delta '{"on":true}'  # the host turns its LED on and reports it`,
          `  npx ccm --port ${http.replace(/^http/, "ws")}/rpc call Sum '{"a":1,"b":2}'   # over WebSocket`,
          `  curl ${http}/rpc/Sys.GetInfo`,
          `  curl '${http}/rpc/Sum?a=20&b=22'`,
          `  curl -d '{"id":1,"method":"Sum","params":[2,3]}' ${http}/rpc`,
          "",
          opts.for === undefined ? "Ctrl-C to stop." : `Stopping in ${opts.for}.`,
          "",
        ].join("\n"),
      );
      sim.on("notification", (method, params) => {
        process.stdout.write(`host got ${method} ${JSON.stringify(params)}\n`);
      });
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
        if (opts.for !== undefined) setTimeout(resolve, parseDuration(opts.for)).unref();
      });
      await sim.stop();
      await daemon.stop();
      await stopAll();
      await rm(join(dir, "data"), { recursive: true, force: true });
      process.stdout.write("ccm demo: stopped\n");
    });
}
