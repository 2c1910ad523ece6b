/**
 * The `sim` line-control protocol: how RST and BOOT0 reach a simulated host, whose UART (a pty)
 * carries no modem lines. The simulated host listens on a local socket (`ccm host-sim --lines-listen
 * ADDR`); a client connects and sends one command per line, each answered with one line:
 *
 *     rst 0          → ok rst=0 boot0=1 state=reset     NRST low: the part is held in reset
 *     rst 1          → ok rst=1 boot0=1 state=bootloader NRST released: boots per BOOT0
 *     boot0 1        → ok rst=1 boot0=1 state=app       BOOT0 high (sampled at the next reset)
 *     get            → ok rst=1 boot0=1 state=bootloader
 *     anything else  → err unknown command "…"
 *
 * Levels are electrical (NRST is active low). ADDR is `HOST:PORT`, `PORT` (127.0.0.1) or a unix socket
 * path (anything with a `/`).
 */
import net from "node:net";
import { CcmError } from "../errors.js";
import type { Level } from "./digital-line.js";

export type SimAddress = { path: string } | { host: string; port: number };

/** Parses `HOST:PORT`, `PORT` or a unix socket path; port 0 (any free port) only for listening. */
export function parseSimAddress(text: string, listening = false): SimAddress {
  if (text.includes("/")) return { path: text };
  const m = /^(?:(.*):)?(\d+)$/.exec(text);
  const port = Number(m?.[2]);
  if (m === null || !Number.isInteger(port) || port < (listening ? 0 : 1) || port > 65535) {
    throw new CcmError(
      "BAD_ARGUMENT",
      `bad sim lines address ${JSON.stringify(text)}: expected HOST:PORT, PORT or a socket path`,
    );
  }
  const host = (m[1] ?? "127.0.0.1").replace(/^\[(.*)\]$/, "$1");
  return { host: host === "" ? "127.0.0.1" : host, port };
}

/** What the simulated host reports after each command. */
export interface SimLineState {
  rst: Level;
  boot0: Level;
  state: string;
}

/** A client of the sim lines protocol: one connection, one command at a time. */
export class SimLinesClient {
  private readonly address: SimAddress;
  private socket: net.Socket | undefined;
  private buffer = "";
  private waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  private chain: Promise<unknown> = Promise.resolve();

  constructor(address: string | SimAddress) {
    this.address = typeof address === "string" ? parseSimAddress(address) : address;
  }

  /** Sets a line; resolves with the state the simulated host reports. */
  set(line: "rst" | "boot0", level: Level): Promise<SimLineState> {
    return this.command(`${line} ${level}`);
  }

  get(): Promise<SimLineState> {
    return this.command("get");
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private command(text: string): Promise<SimLineState> {
    const run = async (): Promise<SimLineState> => {
      const socket = await this.connect();
      const answer = new Promise<string>((resolve, reject) => {
        this.waiting.push({ resolve, reject });
      });
      socket.write(`${text}\n`);
      const line = await answer;
      if (!line.startsWith("ok")) throw new CcmError("LINK_DOWN", `sim lines: ${line}`);
      const get = (k: string): string | undefined => new RegExp(`${k}=(\\S+)`).exec(line)?.[1];
      return {
        rst: get("rst") === "1" ? 1 : 0,
        boot0: get("boot0") === "1" ? 1 : 0,
        state: get("state") ?? "",
      };
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private connect(): Promise<net.Socket> {
    if (this.socket !== undefined && !this.socket.destroyed) return Promise.resolve(this.socket);
    const where = "path" in this.address ? this.address.path : `${this.address.host}:${this.address.port}`;
    return new Promise((resolve, reject) => {
      const socket =
        "path" in this.address
          ? net.connect(this.address.path)
          : net.connect(this.address.port, this.address.host);
      socket.setEncoding("utf8");
      socket.setNoDelay(true);
      socket.once("error", (e) => {
        reject(new CcmError("TRANSPORT_OPEN_FAILED", `cannot reach sim lines at ${where}: ${e.message}`));
      });
      socket.once("connect", () => {
        this.socket = socket;
        socket.on("error", () => undefined);
        resolve(socket);
      });
      socket.on("data", (s: string) => {
        this.buffer += s;
        let nl: number;
        while ((nl = this.buffer.indexOf("\n")) >= 0) {
          const line = this.buffer.slice(0, nl).trim();
          this.buffer = this.buffer.slice(nl + 1);
          this.waiting.shift()?.resolve(line);
        }
      });
      socket.on("close", () => {
        if (this.socket === socket) this.socket = undefined;
        for (const w of this.waiting.splice(0))
          w.reject(new CcmError("LINK_DOWN", `sim lines at ${where} closed`));
      });
    });
  }
}
