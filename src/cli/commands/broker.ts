/** `ccm broker`: the embedded MQTT broker alone, for a CCM (or anything MQTT) to use on a desk. */
import type { Command } from "@commander-js/extra-typings";
import { startEmbeddedBroker } from "../../cloud/embedded-broker.js";
import { parseListen } from "../../channels/http-server.js";
import { errorMessage, isCcmError } from "../../errors.js";
import { CliError, EXIT } from "../output.js";
import { parseDuration } from "../options.js";

/** Adds `broker` to the program. */
export function addBrokerCommand(program: Command): void {
  program
    .command("broker")
    .description("run the embedded MQTT broker (MQTT 3.1.1 and 5 over TCP) until Ctrl-C")
    .option(
      "--listen <addr>",
      "HOST:PORT to listen on (0.0.0.0:1883 to be reachable from the network)",
      "127.0.0.1:1883",
    )
    .option("--for <duration>", "stop after this long (default: until Ctrl-C)")
    .action(async (opts) => {
      let broker;
      try {
        const { host, port } = parseListen(opts.listen);
        broker = await startEmbeddedBroker({ host, port });
      } catch (e) {
        throw new CliError(errorMessage(e), isCcmError(e, "CONFIG_INVALID") ? EXIT.usage : EXIT.unreachable);
      }
      process.stdout.write(`ccm broker: MQTT on ${broker.url}; Ctrl-C to stop\n`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
        if (opts.for !== undefined) setTimeout(resolve, parseDuration(opts.for)).unref();
      });
      await broker.close();
      process.stdout.write("ccm broker: stopped\n");
    });
}
