/** `ccm start`: runs the CCM daemon on the host's UART until SIGINT/SIGTERM. */
import type { Command } from "@commander-js/extra-typings";
import { homedir } from "node:os";
import { join } from "node:path";
import { CcmRunner } from "../../daemon/runner.js";
import { CcmError } from "../../errors.js";
import { supervisorControl } from "../../fw/boot-control.js";
import { createLogger, type LogLevel } from "../../log/logger.js";
import { CliError, EXIT } from "../output.js";
import { parseIntOption } from "../options.js";

/** The data dir when none is given: $CCM_DATA_DIR, else ~/.ccm. */
export function defaultDataDir(): string {
  return process.env.CCM_DATA_DIR ?? join(homedir(), ".ccm");
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

interface StartFlags {
  hostPort?: string;
  hostBaud?: string;
  rpcPort?: string;
  httpListen?: string;
  dataDir?: string;
  config?: string;
  set: string[];
}

/** The runner the flags describe. */
function build(opts: StartFlags): CcmRunner {
  const overrides: Record<string, Record<string, unknown>> = {};
  const host: Record<string, unknown> = {};
  if (opts.hostPort !== undefined) host.port = opts.hostPort;
  if (opts.hostBaud !== undefined) host.baud = parseIntOption(opts.hostBaud, "--host-baud");
  if (Object.keys(host).length > 0) overrides.host = host;
  const rpc: Record<string, unknown> = {};
  if (opts.rpcPort !== undefined) rpc.uart = { port: opts.rpcPort };
  if (opts.httpListen !== undefined) rpc.http = { listen: opts.httpListen };
  if (Object.keys(rpc).length > 0) overrides.rpc = rpc;
  return new CcmRunner({
    ...(opts.config === undefined ? {} : { file: opts.config }),
    set: opts.set,
    overrides,
    dataDir: opts.dataDir ?? defaultDataDir(),
    logger: (config) => createLogger(config.debug.level as LogLevel),
  });
}

/** Adds `start` to the program. */
export function addStartCommand(program: Command): void {
  program
    .command("start")
    .description("run the CCM daemon on the host's UART")
    .option("--host-port <path>", "the host's UART: a serial device or tcp://host:port (config host.port)")
    .option("--host-baud <n>", "UART speed, 8N1 (config host.baud; default 115200)")
    .option("--rpc-port <path>", "a second UART serving RPC to mos / ccm call (config rpc.uart.port)")
    .option(
      "--http-listen <addr>",
      "HTTP and WebSocket RPC address (config rpc.http.listen; default 127.0.0.1:8000)",
    )
    .option("--data-dir <dir>", "where the CCM keeps what it persists (default $CCM_DATA_DIR or ~/.ccm)")
    .option(
      "--config <file>",
      "the vendor's JSON config file (may hold config.lock), applied over the saved config",
    )
    .option("--set <key=value>", "set one config key; repeatable, applied last", collect, [])
    .action(async (opts) => {
      const runner = build(opts);
      try {
        await runner.start();
      } catch (e) {
        await runner.stop();
        // Config problems are usage errors naming the key or file.
        if (e instanceof CcmError && e.code === "CONFIG_INVALID") throw new CliError(e.message, EXIT.usage);
        throw new CliError(e instanceof Error ? e.message : String(e), EXIT.unreachable);
      }
      supervisorControl().ready();
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string): void => {
          runner.daemon.logger.info(`${signal}: shutting down`);
          runner.stop().then(resolve, resolve);
        };
        process.once("SIGINT", shutdown);
        process.once("SIGTERM", shutdown);
      });
    });
}
