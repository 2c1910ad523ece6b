/** The simulated host's end of the `sim` line-control protocol (src/lines/sim-lines.ts). */
import { rm } from "node:fs/promises";
import net from "node:net";
import { parseSimAddress } from "../../lines/sim-lines.js";
import type { Stm32Mcu } from "./mcu.js";

/** A listening sim lines server; `address` is what clients give as `sim:ADDR`. */
export interface SimLinesServer {
  address: string;
  close(): Promise<void>;
}

function stateLine(mcu: Stm32Mcu): string {
  const { rst, boot0 } = mcu.lineLevels;
  return `ok rst=${rst} boot0=${boot0} state=${mcu.personality}`;
}

/** Listens on ADDR (`HOST:PORT`, `PORT`, `HOST:0` for any free port, or a unix socket path). */
export async function listenSimLines(mcu: Stm32Mcu, addr: string): Promise<SimLinesServer> {
  const address = parseSimAddress(addr, true);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setEncoding("utf8");
    socket.setNoDelay(true);
    let buffer = "";
    socket.on("data", (s: string) => {
      buffer += s;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).trim().toLowerCase();
        buffer = buffer.slice(nl + 1);
        const m = /^(rst|boot0)\s+([01])$/.exec(line);
        if (m !== null) {
          mcu.setLine(m[1] as "rst" | "boot0", m[2] === "1" ? 1 : 0);
          socket.write(`${stateLine(mcu)}\n`);
        } else if (line === "get") {
          socket.write(`${stateLine(mcu)}\n`);
        } else if (line !== "") {
          socket.write(`err unknown command ${JSON.stringify(line)}\n`);
        }
      }
    });
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  if ("path" in address) await rm(address.path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if ("path" in address) server.listen(address.path, resolve);
    else server.listen(address.port, address.host, resolve);
  });
  const bound = server.address();
  const text =
    "path" in address
      ? address.path
      : `${address.host}:${typeof bound === "object" && bound !== null ? bound.port : address.port}`;
  return {
    address: text,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
