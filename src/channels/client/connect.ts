/** Opens a client connection from a `--port` value: serial path, tcp://, ws(s)://, http(s)://, mqtt(s)://. */
import { SerialRpcChannel } from "../serial-rpc.js";
import type { Credentials } from "../../rpc/auth-client.js";
import { CcmError } from "../../errors.js";
import { callWithFrameAuth, type RpcClient } from "./rpc-client.js";
import { connectWs } from "./ws-client.js";
import { connectHttp } from "./http-client.js";
import { connectMqtt } from "./mqtt-client.js";

export interface ConnectOptions {
  timeoutMs: number;
  baudRate: number;
  creds?: Credentials;
  /** Serial only: frame as mos does (`"""` + CRC, after its handshake). */
  mosFraming?: boolean;
}

/** The `src` ccm puts on its calls, as mos puts `mos`. */
export const CLIENT_SRC = "ccm";

/** Opens a connection to the device at `port`. */
export async function connectRpc(port: string, o: ConnectOptions): Promise<RpcClient> {
  const scheme = /^([a-z]+):\/\//i.exec(port)?.[1]?.toLowerCase();
  const common = {
    timeoutMs: o.timeoutMs,
    src: CLIENT_SRC,
    ...(o.creds === undefined ? {} : { creds: o.creds }),
  };
  switch (scheme) {
    case "ws":
    case "wss":
      return connectWs(port, common);
    case "http":
    case "https":
      return connectHttp(port, common);
    case "mqtt":
    case "mqtts":
      return connectMqtt(port, common);
    case undefined:
    case "tcp":
      return connectSerial(port, o);
    default:
      throw new CcmError(
        "BAD_ARGUMENT",
        `unknown --port scheme "${scheme}://": use a serial path, tcp://, ws://, http:// or mqtt://`,
      );
  }
}

async function connectSerial(port: string, o: ConnectOptions): Promise<RpcClient> {
  const ch = new SerialRpcChannel({
    path: port,
    settings: { baudRate: o.baudRate },
    reconnect: false,
    answerHandshake: false,
    mosFraming: o.mosFraming === true,
    timeoutMs: o.timeoutMs,
    maxLineBytes: 1 << 20,
  });
  await ch.link.open();
  if (o.mosFraming === true) await mosHandshake(ch, o.timeoutMs);
  // A newline first ends whatever partial line the device was holding.
  else await ch.link.writeRaw("\n");
  return {
    call: (method, params, options = {}) =>
      callWithFrameAuth(ch.peer, method, params, { ...options, envelope: { src: CLIENT_SRC } }, o.creds),
    notify: (method, params) => {
      ch.peer.notify(method, params, { src: CLIENT_SRC });
      return Promise.resolve();
    },
    close: () => ch.link.stop(),
    get unsolicited() {
      return ch.rpcStats.unmatched_responses;
    },
  };
}

/** mos's serial handshake: `"""\x04"""` every 200 ms until the device echoes it (mos-protocols.md §2.2). */
async function mosHandshake(ch: SerialRpcChannel, timeoutMs: number): Promise<void> {
  let answered = false;
  const echoed = new Promise<void>((resolve) =>
    ch.link.once("handshake", () => {
      answered = true;
      resolve();
    }),
  );
  const deadline = Date.now() + timeoutMs;
  while (!answered) {
    if (Date.now() > deadline) {
      throw new CcmError("RPC_TIMEOUT", `no answer to the mos handshake on ${ch.link.options.path}`);
    }
    await ch.link.writeRaw('"""\x04"""\n\n');
    await Promise.race([echoed, new Promise((r) => setTimeout(r, 200))]);
  }
}
