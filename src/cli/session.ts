/** Opens a connection to `--port` for one command and maps failures to CLI exit codes. */
import { connectRpc } from "../channels/client/connect.js";
import type { RpcClient } from "../channels/client/rpc-client.js";
import { callFailure, CliError } from "./output.js";
import { clientOptions, requirePort, type GlobalOptions } from "./options.js";

/** Runs `fn` with a client connected to the device at `--port`, closing it afterwards. */
export async function withClient<T>(
  globals: GlobalOptions,
  fn: (client: RpcClient) => Promise<T>,
): Promise<T> {
  const port = requirePort(globals);
  const options = await clientOptions(globals);
  let client: RpcClient;
  try {
    client = await connectRpc(port, options);
  } catch (e) {
    throw callFailure(e);
  }
  try {
    return await fn(client);
  } catch (e) {
    throw e instanceof CliError ? e : callFailure(e);
  } finally {
    await client.close();
  }
}
