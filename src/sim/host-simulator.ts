/**
 * A simulated host MCU that behaves like the Arduino sketches of the CCM docs (mjson firmware):
 * exports Sum, Shadow.Delta, Sys.Info and RPC.List over newline JSON-RPC, answers unknown methods
 * with mjson's -32601, and can be bent by a stack of behaviours (delay, drop, split, log, resets).
 */
import { EventEmitter } from "node:events";
import Type from "typebox";
import { SerialLink } from "../channels/serial-link.js";
import { MethodRegistry } from "../rpc/registry.js";
import { RpcPeer } from "../rpc/peer.js";
import { RpcServer } from "../rpc/server.js";
import { createTransport } from "../transports/open.js";
import type { ByteTransport, SerialSettings } from "../transports/transport.js";
import type { HostBehavior } from "./behaviors.js";
import type { Stm32Mcu } from "./stm32/mcu.js";

export interface HostSimulatorOptions {
  /** The UART: a serial path (one end of a pty pair) or tcp://host:port. */
  port: string;
  baud?: number;
  fwVersion?: string;
  fwId?: string;
  app?: string;
  behaviors?: HostBehavior[];
  /** Send `Shadow.Report {"on":false}` after every boot, as shadow.ino does (default true). */
  bootReport?: boolean;
  /** Reopen the port after an unplug (default true). */
  reconnect?: boolean;
  transportFactory?: (path: string, settings: SerialSettings) => ByteTransport;
  /**
   * The STM32 this firmware runs on: the UART then also carries its ROM bootloader (entered with
   * BOOT0 high at reset), the firmware runs only while the MCU runs its application, and
   * `fw_version` is the one in the flashed image's marker (stm32/image.ts).
   */
  mcu?: Stm32Mcu;
}

export interface HostSimulatorEvents {
  /** Every frame that arrived, before behaviours or firmware saw it. */
  frame: [text: string];
  /** A notification the firmware got (Shadow.Delta, Sys.Init, MQTT.Message…). */
  notification: [method: string, params: unknown];
  reset: [boots: number];
  up: [];
  down: [];
}

/** The simulated host. `registry` is its firmware: tests add methods to it. */
export class HostSimulator extends EventEmitter<HostSimulatorEvents> {
  readonly registry = new MethodRegistry();
  readonly link: SerialLink;
  readonly peer: RpcPeer;
  /** The application state shadow.ino keeps: the LED. */
  readonly state = { on: false };
  private readonly options: HostSimulatorOptions;
  private readonly stack: { behavior: HostBehavior; stop?: () => void }[] = [];
  private bootedAt = Date.now();
  private boots = 1;
  private running = false;

  constructor(options: HostSimulatorOptions) {
    super();
    this.options = options;
    const mcu = options.mcu;
    const factory =
      mcu === undefined
        ? options.transportFactory
        : (path: string, settings: SerialSettings) =>
            mcu.wrap((options.transportFactory ?? createTransport)(path, settings));
    this.link = new SerialLink({
      path: options.port,
      settings: { baudRate: options.baud ?? 115200 },
      answerHandshake: false,
      reconnect: options.reconnect ?? true,
      ...(factory === undefined ? {} : { transportFactory: factory }),
    });
    mcu?.on("personality", (p) => {
      if (p === "app" && this.running) this.reset();
    });
    this.installFirmware();
    const server = new RpcServer(this.registry, {
      fallback: (frame) => {
        if (frame.id !== undefined) return undefined;
        this.emit("notification", frame.method, frame.params);
        return Promise.resolve(null);
      },
    });
    this.peer = new RpcPeer({
      send: (frame) => {
        this.sendLine(`${JSON.stringify(frame)}\n`);
      },
      server,
      context: { channel: "UART", peer: options.port },
      jsonrpcMember: false,
    });
    this.link.on("frame", (text) => {
      this.emit("frame", text);
      for (const { behavior } of this.stack) if (behavior.onFrame?.(text, this) === true) return;
      this.peer.receiveText(text);
    });
    this.link.on("up", () => {
      this.peer.reopen();
      this.emit("up");
    });
    this.link.on("down", () => {
      this.peer.close("host UART closed");
      this.emit("down");
    });
    for (const b of options.behaviors ?? []) this.use(b);
  }

  /** Opens the UART and boots. */
  async start(): Promise<void> {
    this.running = true;
    await this.link.open();
    for (const entry of this.stack) this.startBehavior(entry);
    this.boot();
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const entry of this.stack) entry.stop?.();
    await this.link.stop();
    this.options.mcu?.close();
  }

  /** Pushes a behaviour on top of the stack; it sees outgoing lines before older ones. */
  use(behavior: HostBehavior): this {
    const entry: { behavior: HostBehavior; stop?: () => void } = { behavior };
    this.stack.unshift(entry);
    if (this.running) this.startBehavior(entry);
    return this;
  }

  /** Simulates pressing RESET: uptime restarts, the LED state is lost, the boot banner prints. */
  reset(): void {
    this.peer.close("host reset");
    this.peer.reopen();
    this.boots++;
    this.state.on = false;
    this.emit("reset", this.boots);
    this.boot();
  }

  /** Seconds since the last boot. */
  get uptime(): number {
    return Math.floor((Date.now() - this.bootedAt) / 1000);
  }

  /** Calls a method on the CCM, as `jsonrpc_call` does on a real host. */
  call(method: string, params?: unknown, timeoutMs?: number): Promise<unknown> {
    return this.peer.call(method, params, timeoutMs === undefined ? {} : { timeoutMs });
  }

  /** Sends the CCM a notification (Shadow.Report, MQTT.Pub…). */
  notify(method: string, params?: unknown): void {
    this.peer.notify(method, params);
  }

  /** Writes bytes straight to the UART, bypassing the behaviours (log output, noise). */
  writeRaw(data: string | Buffer): void {
    this.link.writeRaw(data).catch(() => undefined);
  }

  private boot(): void {
    this.bootedAt = Date.now();
    this.writeRaw(`\r\n${this.options.app ?? "host-sim"} boot #${this.boots}, fw ${this.fwVersion}\r\n`);
    if (this.options.bootReport !== false) this.report();
  }

  private get fwVersion(): string {
    const mcu = this.options.mcu;
    if (mcu !== undefined) return mcu.firmwareVersion ?? "unknown";
    return this.options.fwVersion ?? "1.0";
  }

  private report(): void {
    if (this.link.isUp) this.notify("Shadow.Report", { on: this.state.on });
  }

  private sendLine(line: string): void {
    if (!this.link.isUp) throw new Error("host UART is not open");
    this.pass(0, line);
  }

  private pass(from: number, data: string | Buffer): void {
    for (let i = from; i < this.stack.length; i++) {
      const b = this.stack[i]!.behavior;
      if (b.onSend !== undefined) {
        b.onSend(
          typeof data === "string" ? data : data.toString("latin1"),
          (d) => {
            this.pass(
              i + 1,
              typeof d === "string" && typeof data !== "string" ? Buffer.from(d, "latin1") : d,
            );
          },
          this,
        );
        return;
      }
    }
    this.writeRaw(data);
  }

  private startBehavior(entry: { behavior: HostBehavior; stop?: () => void }): void {
    const stop = entry.behavior.start?.(this);
    if (stop !== undefined) entry.stop = stop;
  }

  private installFirmware(): void {
    const fwId = this.options.fwId ?? "2026-11-22T00:00:00Z";
    this.registry.register({
      name: "Sum",
      description: "Adds two numbers: params [a,b] or {a,b}.",
      params: Type.Object({ a: Type.Number(), b: Type.Number() }),
      positional: ["a", "b"],
      handler: ({ a, b }) => a + b,
    });
    this.registry.register({
      name: "Shadow.Delta",
      description: "Applies a shadow delta: sets `on`, then reports the state back (shadow.ino).",
      handler: (_p, ctx) => {
        const on = (ctx.frame.params as { on?: unknown } | undefined)?.on;
        if (typeof on === "boolean") this.state.on = on;
        this.emit("notification", "Shadow.Delta", ctx.frame.params);
        this.report();
        return null;
      },
    });
    this.registry.register({
      name: "Sys.Info",
      description: "What the firmware is: version, build, uptime.",
      handler: () => ({
        fw_version: this.fwVersion,
        arch: "sim",
        fw_id: fwId,
        app: this.options.app ?? "host-sim",
        uptime: this.uptime,
      }),
    });
    this.registry.register({
      name: "RPC.List",
      description: "Lists the exported methods.",
      handler: () => this.registry.names(),
    });
  }
}
