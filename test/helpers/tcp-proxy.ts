/**
 * A TCP proxy in front of a broker that can hold the traffic: a network that stalls without closing
 * (what a broker that withholds its PUBACK looks like to the client). When one side of a connection
 * closes, the other is closed at once and what was held for it is thrown away.
 */
import net from "node:net";
import type { TestContext } from "node:test";

export interface TcpProxy {
  port: number;
  /** `127.0.0.1:PORT`, as `mqtt.server` takes it. */
  server: string;
  /** Holds what flows from now on (`up`: client → broker, `down`: broker → client), both by default. */
  hold(direction?: "up" | "down" | "both"): void;
  /** Delivers what was held and lets traffic flow again. */
  release(): void;
}

interface Pipe {
  from: net.Socket;
  to: net.Socket;
  held: Buffer[];
  direction: "up" | "down";
}

/** A proxy on a free port of 127.0.0.1 to `127.0.0.1:targetPort`; closed after the test. */
export async function startTcpProxy(t: TestContext, targetPort: number): Promise<TcpProxy> {
  const holding = { up: false, down: false };
  const pipes = new Set<Pipe>();
  const sockets = new Set<net.Socket>();
  const connect = (from: net.Socket, to: net.Socket, direction: "up" | "down"): void => {
    const pipe: Pipe = { from, to, held: [], direction };
    pipes.add(pipe);
    from.on("data", (d: Buffer) => {
      if (holding[direction]) pipe.held.push(d);
      else to.write(d);
    });
    from.on("close", () => {
      pipes.delete(pipe);
      pipe.held = [];
      to.destroy();
    });
  };
  const server = net.createServer((client) => {
    const broker = net.connect(targetPort, "127.0.0.1");
    for (const s of [client, broker]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.once("close", () => sockets.delete(s));
    }
    connect(client, broker, "up");
    connect(broker, client, "down");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return {
    port,
    server: `127.0.0.1:${port}`,
    hold(direction = "both") {
      if (direction !== "down") holding.up = true;
      if (direction !== "up") holding.down = true;
    },
    release() {
      holding.up = false;
      holding.down = false;
      for (const p of pipes) {
        for (const d of p.held) p.to.write(d);
        p.held = [];
      }
    },
  };
}
