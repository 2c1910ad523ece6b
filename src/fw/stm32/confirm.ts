/** The flasher's last step: does the application answer once it runs? */
import { CcmError } from "../../errors.js";
import type { ByteTransport } from "../../transports/transport.js";
import { sleep } from "./session.js";

/**
 * Calls Sys.Info on the application until it answers (a JSON-RPC line on the port), retrying every
 * 500 ms for `timeoutMs`. Resolves with the result.
 */
export async function probeSysInfo(port: ByteTransport, timeoutMs: number): Promise<unknown> {
  const id = 0x5700_0000 + Math.floor(Math.random() * 0xffff);
  let text = "";
  let done: ((v: unknown) => void) | undefined;
  const answered = new Promise<unknown>((resolve) => {
    done = resolve;
  });
  const onData = (chunk: Buffer): void => {
    text += chunk.toString("latin1");
    let nl: number;
    while ((nl = text.indexOf("\n")) >= 0) {
      const line = text.slice(0, nl).trim();
      text = text.slice(nl + 1);
      if (!line.startsWith("{")) continue;
      try {
        const frame = JSON.parse(line) as { id?: unknown; result?: unknown };
        if (frame.id === id && "result" in frame) done?.(frame.result);
      } catch {
        // log output or noise
      }
    }
    if (text.length > 65536) text = "";
  };
  port.on("data", onData);
  const deadline = performance.now() + timeoutMs;
  try {
    while (performance.now() < deadline) {
      await port.write(`${JSON.stringify({ id, method: "Sys.Info" })}\n`);
      const wait = Math.min(500, deadline - performance.now());
      const result = await Promise.race([answered, sleep(wait).then(() => undefined)]);
      if (result !== undefined) return result;
    }
    throw new CcmError("RPC_TIMEOUT", `no answer to Sys.Info on ${port.path} within ${timeoutMs} ms`);
  } finally {
    port.off("data", onData);
  }
}
