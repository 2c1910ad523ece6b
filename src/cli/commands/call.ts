/** `ccm call METHOD [params]`: one RPC to a device, as `mos call` does. */
import type { Command } from "@commander-js/extra-typings";
import { SerialRpcChannel } from "../../channels/serial-rpc.js";
import { callFailure, CliError, EXIT, printResult } from "../output.js";
import { parseDuration, parseIntOption, requirePort, globalsOf } from "../options.js";

/** Adds `call` to the program. */
export function addCallCommand(program: Command): void {
  program
    .command("call")
    .description("call METHOD on the device at --port and print the result")
    .argument("<method>", "method name, e.g. Sys.GetInfo")
    .argument("[params]", 'params as JSON, e.g. \'{"a":1,"b":2}\'')
    .option("--mos-framing", 'frame as mos does ("""…""" with CRC32), for old Mongoose OS firmware')
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
      const result = await callOnce(requirePort(globals), method, params, {
        baudRate: parseIntOption(globals.baudRate, "--baud-rate"),
        timeoutMs: parseDuration(globals.timeout),
        mosFraming: opts.mosFraming === true,
      });
      printResult(result, globals.json === true);
    });
}

interface CallOnceOptions {
  baudRate: number;
  timeoutMs: number;
  mosFraming: boolean;
}

/** Opens the port, makes one call, closes the port. */
async function callOnce(port: string, method: string, params: unknown, o: CallOnceOptions): Promise<unknown> {
  const ch = new SerialRpcChannel({
    path: port,
    settings: { baudRate: o.baudRate },
    reconnect: false,
    answerHandshake: false,
    mosFraming: o.mosFraming,
    timeoutMs: o.timeoutMs,
    maxLineBytes: 1 << 20,
  });
  try {
    await ch.link.open();
  } catch (e) {
    throw callFailure(e);
  }
  try {
    if (o.mosFraming) await handshake(ch, o.timeoutMs);
    // A newline first ends whatever partial line the device was holding.
    else await ch.link.writeRaw("\n");
    return await ch.peer.call(method, params, { envelope: { src: "ccm" } });
  } catch (e) {
    throw callFailure(e);
  } finally {
    await ch.link.stop();
  }
}

/** mos's serial handshake: `"""\x04"""` every 200 ms until the device echoes it (mos-protocols.md §2.2). */
async function handshake(ch: SerialRpcChannel, timeoutMs: number): Promise<void> {
  const echoed = new Promise<void>((resolve) => ch.link.once("handshake", resolve));
  const deadline = Date.now() + timeoutMs;
  let answered = false;
  void echoed.then(() => (answered = true));
  while (!answered) {
    if (Date.now() > deadline)
      throw new CliError(`no answer to the mos handshake on ${ch.link.options.path}`, EXIT.unreachable);
    await ch.link.writeRaw('"""\x04"""\n\n');
    await Promise.race([echoed, new Promise((r) => setTimeout(r, 200))]);
  }
}
