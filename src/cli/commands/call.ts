/** `ccm call METHOD [params]`: one RPC to a device, as `mos call` does. */
import type { Command } from "@commander-js/extra-typings";
import { connectRpc } from "../../channels/client/connect.js";
import { callFailure, CliError, EXIT, printResult } from "../output.js";
import { clientOptions, globalsOf, requirePort } from "../options.js";

/** Adds `call` to the program. */
export function addCallCommand(program: Command): void {
  program
    .command("call")
    .description("call METHOD on the device at --port and print the result")
    .argument("<method>", "method name, e.g. Sys.GetInfo")
    .argument("[params]", 'params as JSON, e.g. \'{"a":1,"b":2}\'')
    .option(
      "--mos-framing",
      'serial only: frame as mos does ("""…""" with CRC32), for old Mongoose OS firmware',
    )
    .action(async (method, paramsText, opts, cmd) => {
      const globals = globalsOf(cmd);
      let params: unknown;
      if (paramsText !== undefined) {
        try {
          params = JSON.parse(paramsText);
        } catch (e) {
          throw new CliError(
            `params are not valid JSON: ${e instanceof Error ? e.message : String(e)}`,
            EXIT.usage,
          );
        }
      }
      const port = requirePort(globals);
      const options = await clientOptions(globals);
      let client;
      try {
        client = await connectRpc(port, { ...options, mosFraming: opts.mosFraming === true });
      } catch (e) {
        throw callFailure(e);
      }
      try {
        printResult(await client.call(method, params), globals.json === true);
      } catch (e) {
        throw callFailure(e);
      } finally {
        await client.close();
      }
    });
}
