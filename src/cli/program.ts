/** The `ccm` command line: mos-style global flags, one subcommand per file in commands/. */
import { Command } from "@commander-js/extra-typings";
import { VERSION } from "../version.js";
import { addCallCommand } from "./commands/call.js";
import { addHostSimCommand } from "./commands/host-sim.js";
import { addStartCommand } from "./commands/start.js";
import { addDemoCommand } from "./commands/demo.js";
import { addBrokerCommand } from "./commands/broker.js";
import { addConfigCommands } from "./commands/config.js";
import { addFsCommands } from "./commands/fs.js";
import { addCloudSetupCommands } from "./commands/cloud-setup.js";
import { addOtaCommand } from "./commands/ota.js";
import { addFwBundleCommands } from "./commands/fw-bundle.js";
import { addFlashCommand } from "./commands/flash.js";
import { addSuperviseCommands } from "./commands/supervise.js";

/** Builds the program; exported so docs/cli.md can be generated from it. */
export function buildProgram(): Command {
  const program = new Command()
    .name("ccm")
    .description("Cloud Communication Module: puts a microcontroller on the cloud over its UART")
    .version(VERSION)
    .showHelpAfterError()
    .option(
      "--port <port>",
      "device to talk to: a serial path, tcp://host:port, ws://host:port/rpc, http://host:port or mqtt://broker/DEVICE_ID",
      process.env.MOS_PORT ?? process.env.CCM_PORT,
    )
    .option("--baud-rate <n>", "serial speed for --port", "115200")
    .option(
      "--rpc-creds <creds>",
      "digest credentials for a device with RPC auth: user:pass, or @file holding them",
    )
    .option("--timeout <duration>", "how long to wait for an answer: 10s, 500ms, or milliseconds", "10s")
    .option("--json", "print compact JSON instead of pretty JSON");
  addDemoCommand(program);
  addStartCommand(program);
  addCallCommand(program);
  addHostSimCommand(program);
  addBrokerCommand(program);
  addConfigCommands(program);
  addFsCommands(program);
  addCloudSetupCommands(program);
  addOtaCommand(program);
  addFwBundleCommands(program);
  addFlashCommand(program);
  addSuperviseCommands(program);
  return program;
}
