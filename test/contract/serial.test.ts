import { channelContract } from "./channel-contract.js";
import { ptyPair } from "../helpers/socat.js";

channelContract("serial (management UART)", {
  network: false,
  exclusive: true,
  async config(t) {
    const pty = await ptyPair(t);
    return { rpc: { uart: { port: pty.a } } };
  },
  // The test helper names a pty pair's ends <dir>/a and <dir>/b: the caller takes the other end.
  port: (daemon) => daemon.config.rpc.uart.port.replace(/\/a$/, "/b"),
});
