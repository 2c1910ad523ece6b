/** The embedded MQTT broker (aedes) behind `ccm demo`, `ccm broker` and the tests: MQTT over TCP. */
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { Aedes } from "aedes";
import { CcmError, errorMessage } from "../errors.js";

/** A running embedded broker. */
export interface EmbeddedBroker {
  readonly host: string;
  readonly port: number;
  /** `mqtt://host:port`. */
  readonly url: string;
  close(): Promise<void>;
}

/** Starts a broker on `host:port` (port 0: any free port). */
export async function startEmbeddedBroker(o: { host?: string; port?: number } = {}): Promise<EmbeddedBroker> {
  const host = o.host ?? "127.0.0.1";
  const aedes = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    aedes.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) => {
      // Its timers would keep the process alive.
      aedes.close(() => undefined);
      reject(
        new CcmError(
          "TRANSPORT_OPEN_FAILED",
          `broker cannot listen on ${host}:${o.port ?? 0}: ${errorMessage(e)}`,
        ),
      );
    });
    server.listen(o.port ?? 0, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host,
    port,
    url: `mqtt://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        aedes.close(() => undefined);
        // Connected clients keep the server open until dropped.
        for (const s of sockets) s.destroy();
      }),
  };
}
