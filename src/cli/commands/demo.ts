/**
 * `ccm demo`: the CCM on its embedded defaults with nothing to wire. A socat null-modem cable joins
 * the daemon to a simulated host, a second one carries RPC for `ccm call`; both are real ptys. An
 * embedded MQTT broker makes the CCM a private-MQTT device: MQTT RPC and the shadow on AWS's topics.
 */
import type { Command } from "@commander-js/extra-typings";
import { mkdir, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedBroker } from "../../cloud/embedded-broker.js";
import { loadConfig } from "../../config/load.js";
import { Daemon } from "../../daemon/daemon.js";
import { errorMessage } from "../../errors.js";
import { createLogger } from "../../log/logger.js";
import { HostSimulator } from "../../sim/host-simulator.js";
import { startPtyPair, type PtyPair } from "../../transports/pty-pair.js";
import { CliError, EXIT } from "../output.js";
import { parseDuration } from "../options.js";

/** `port` on 127.0.0.1 when it is free, else 0 (any free port): the demo must start on a busy machine too. */
export async function portOrAny(port: number): Promise<number> {
  const free = await new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once("error", () => {
      resolve(false);
    });
    probe.listen(port, "127.0.0.1", () => {
      probe.close(() => {
        resolve(true);
      });
    });
  });
  return free ? port : 0;
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
      const broker = await startEmbeddedBroker({ port: await portOrAny(1883) });
      const listen = opts.httpListen ?? `127.0.0.1:${await portOrAny(8000)}`;
      const config = loadConfig({
        overrides: {
          device: { id: "ccm_demo" },
          host: { port: host.a },
          rpc: { uart: { port: rpc.a }, http: { listen } },
          mqtt: { enable: true, server: `${broker.host}:${broker.port}` },
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
      await new Promise<void>((resolve) => {
        if (daemon.mqtt?.connected === true) resolve();
        else daemon.mqtt?.once("up", resolve);
      });
      const sum = await daemon.host.call("Sum", [2, 3]);
      const port = rpc.b;
      const http = daemon.httpUrl ?? "";
      const b = `-h 127.0.0.1 -p ${broker.port}`;
      const shadow = "'$aws/things/ccm_demo/shadow";
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
          `  npx ccm --port mqtt://127.0.0.1:${broker.port}/ccm_demo call Sys.GetInfo   # over MQTT`,
          "",
          `The shadow (the CCM is its authority, on AWS IoT's topics of the embedded broker ${broker.url}):`,
          `  mosquitto_sub ${b} -t ${shadow}/#' -v`,
          `  mosquitto_pub ${b} -t ${shadow}/update' -m '{"state":{"desired":{"on":true}}}'   # the host's LED goes on`,
          `  curl -d '{"state":{"desired":{"on":false}}}' ${http}/rpc/Shadow.Update                 # and off`,
          `  curl ${http}/rpc/Shadow.Get`,
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
      await broker.close();
      await stopAll();
      await rm(join(dir, "data"), { recursive: true, force: true });
      process.stdout.write("ccm demo: stopped\n");
    });
}
