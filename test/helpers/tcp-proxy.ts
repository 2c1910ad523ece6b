/**
 * A TCP proxy in front of a broker that plays the network's failures: traffic held (a stall, e.g. a
 * PUBACK that does not come), new connections refused, or a dead link (a power cut at the broker:
 * nothing gets through and no close is passed on, so only the client's keepalive can tell).
 * Otherwise, when one side of a connection closes, the other is closed at once and what was held
 * for it is thrown away.
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
  /** Closes new connections at once (the broker's port refuses) until open(). */
  refuse(): void;
  /** Kills the link of every open connection without closing it, and refuses new ones until open(). */
  cut(): void;
  /** Takes new connections again (cut connections stay dead until their client closes them). */
  open(): void;
}

interface Pipe {
  to: net.Socket;
  held: Buffer[];
  dead: boolean;
}

/** A proxy on a free port of 127.0.0.1 to `127.0.0.1:targetPort`; closed after the test. */
export async function startTcpProxy(t: TestContext, targetPort: number): Promise<TcpProxy> {
  const holding = { up: false, down: false };
  let refusing = false;
  const pipes = new Set<Pipe>();
  const sockets = new Set<net.Socket>();
  const connect = (from: net.Socket, to: net.Socket, direction: "up" | "down"): void => {
    const pipe: Pipe = { to, held: [], dead: false };
    pipes.add(pipe);
    from.on("data", (d: Buffer) => {
      if (pipe.dead) return;
      if (holding[direction]) pipe.held.push(d);
      else to.write(d);
    });
    from.on("close", () => {
      pipes.delete(pipe);
      pipe.held = [];
      if (!pipe.dead) to.destroy();
    });
  };
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
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
    refuse() {
      refusing = true;
    },
    cut() {
      refusing = true;
      for (const p of pipes) {
        p.dead = true;
        p.held = [];
      }
    },
    open() {
      refusing = false;
    },
  };
}
