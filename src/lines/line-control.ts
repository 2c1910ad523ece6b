/**
 * RST and BOOT0 of a host MCU, as the STM32 flasher drives them to enter the ROM bootloader.
 * Backends, by `--lines` spec:
 *
 *   none                       the target is already in its bootloader (bench use): no reset
 *   dtr-rts[:inv-rst][:inv-boot0]   RST on DTR, BOOT0 on RTS of the flasher's own serial port
 *   rts-dtr[:…]                RST on RTS, BOOT0 on DTR
 *   gpiod:CHIP:RST,BOOT0[:inv-rst][:inv-boot0]   two libgpiod lines (offsets on CHIP)
 *   sim:ADDR                   a simulated host's lines (src/lines/sim-lines.ts)
 *
 * Modem lines: an asserted signal drives its pin low on USB-UART adapters, so by default asserting
 * DTR/RTS means "reset held" (NRST low) and BOOT0 high means the signal deasserted. GPIO lines: RST
 * is driven low to hold the reset, BOOT0 high to select the bootloader. `inv-…` flips a line (an
 * inverting transistor on the board).
 */
import { CcmError } from "../errors.js";
import type { ByteTransport } from "../transports/transport.js";
import type { Level } from "./digital-line.js";
import { GpiodOutput, GpiodTools, type Spawner } from "./gpiod.js";
import { SimLinesClient } from "./sim-lines.js";

/** The two lines the flasher drives. */
export interface LineControl {
  /** The spec it was made from, for messages. */
  readonly spec: string;
  /** False for `none`: the flasher cannot reset the target and expects it in its bootloader. */
  readonly canReset: boolean;
  /** Called with the flasher's serial port once it is open (modem-line backends drive it). */
  attach?(transport: ByteTransport): void;
  /** BOOT0 high selects the system memory (the bootloader) at the next reset. */
  setBoot0(high: boolean): Promise<void>;
  /** Holds the target in reset (true) or lets it run (false). */
  setReset(held: boolean): Promise<void>;
  close(): Promise<void>;
}

/** `none`: nothing to drive. */
export class NoLines implements LineControl {
  readonly spec = "none";
  readonly canReset = false;
  setBoot0(): Promise<void> {
    return Promise.resolve();
  }
  setReset(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * RST and BOOT0 on the serial port's DTR and RTS. Both signals go out on every change: a serial
 * `set` of one signal alone asserts the other (node-serialport fills in DTR and RTS asserted), which
 * would drop BOOT0 while the reset is pulsed. Until the first change both count as asserted, as the
 * kernel raises DTR and RTS when a tty is opened.
 */
export class ModemLines implements LineControl {
  readonly spec: string;
  readonly canReset = true;
  private transport: ByteTransport | undefined;
  private readonly rst: "dtr" | "rts";
  private readonly invRst: boolean;
  private readonly invBoot0: boolean;
  private readonly asserted = { dtr: true, rts: true };

  constructor(spec: string, rst: "dtr" | "rts", invRst: boolean, invBoot0: boolean) {
    this.spec = spec;
    this.rst = rst;
    this.invRst = invRst;
    this.invBoot0 = invBoot0;
  }

  attach(transport: ByteTransport): void {
    this.transport = transport;
    this.asserted.dtr = true;
    this.asserted.rts = true;
  }

  setBoot0(high: boolean): Promise<void> {
    return this.drive(this.rst === "dtr" ? "rts" : "dtr", !high !== this.invBoot0);
  }

  setReset(held: boolean): Promise<void> {
    return this.drive(this.rst, held !== this.invRst);
  }

  close(): Promise<void> {
    this.transport = undefined;
    return Promise.resolve();
  }

  private async drive(signal: "dtr" | "rts", asserted: boolean): Promise<void> {
    const t = this.transport;
    if (t?.setSignals === undefined) {
      throw new CcmError("BAD_ARGUMENT", `--lines ${this.spec} needs a serial port with modem lines`);
    }
    const next = { ...this.asserted, [signal]: asserted };
    await t.setSignals(next);
    this.asserted.dtr = next.dtr;
    this.asserted.rts = next.rts;
  }
}

/** RST and BOOT0 on two libgpiod lines, each held by a `gpioset` (1.x or 2.x syntax, as installed). */
export class GpiodLines implements LineControl {
  readonly spec: string;
  readonly canReset = true;
  private readonly rst: GpiodOutput;
  private readonly boot0: GpiodOutput;
  private readonly invRst: boolean;
  private readonly invBoot0: boolean;

  constructor(
    spec: string,
    chip: string,
    offsets: { rst: number; boot0: number },
    inv: { rst: boolean; boot0: boolean },
    spawner?: Spawner,
  ) {
    this.spec = spec;
    const tools = new GpiodTools(spawner);
    this.rst = new GpiodOutput(chip, offsets.rst, tools);
    this.boot0 = new GpiodOutput(chip, offsets.boot0, tools);
    this.invRst = inv.rst;
    this.invBoot0 = inv.boot0;
  }

  async setBoot0(high: boolean): Promise<void> {
    await this.boot0.drive(level(high !== this.invBoot0));
    await settle();
  }

  async setReset(held: boolean): Promise<void> {
    await this.rst.drive(level(!held !== this.invRst));
    await settle();
  }

  /** Releases both lines (gpioset exits; they return to inputs, NRST to its pull-up). */
  close(): Promise<void> {
    this.rst.close();
    this.boot0.close();
    return Promise.resolve();
  }
}

/** RST and BOOT0 of a simulated host (`ccm host-sim --lines-listen ADDR`). */
export class SimLines implements LineControl {
  readonly spec: string;
  readonly canReset = true;
  private readonly client: SimLinesClient;

  constructor(spec: string, address: string) {
    this.spec = spec;
    this.client = new SimLinesClient(address);
  }

  async setBoot0(high: boolean): Promise<void> {
    await this.client.set("boot0", high ? 1 : 0);
  }

  async setReset(held: boolean): Promise<void> {
    await this.client.set("rst", held ? 0 : 1);
  }

  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
  }
}

function level(high: boolean): Level {
  return high ? 1 : 0;
}

/** gpioset needs a moment to take the line; a new process per level change. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20));
}

/** Builds the line control a `--lines` spec names; BAD_ARGUMENT says what is accepted. */
export function parseLineControl(spec: string, spawner?: Spawner): LineControl {
  const bad = (why: string): CcmError =>
    new CcmError(
      "BAD_ARGUMENT",
      `bad --lines ${JSON.stringify(spec)}: ${why} (expected none, dtr-rts, rts-dtr, gpiod:CHIP:RST,BOOT0 or sim:ADDR; ` +
        "modem and gpiod lines take :inv-rst and :inv-boot0)",
    );
  if (spec === "none") return new NoLines();
  if (spec.startsWith("sim:")) {
    const address = spec.slice(4);
    if (address === "") throw bad("the address is missing");
    return new SimLines(spec, address);
  }
  const parts = spec.split(":");
  const flags = new Set(parts.filter((p) => p.startsWith("inv-")));
  for (const f of flags) if (f !== "inv-rst" && f !== "inv-boot0") throw bad(`unknown flag ${f}`);
  const rest = parts.filter((p) => !p.startsWith("inv-"));
  const inv = { rst: flags.has("inv-rst"), boot0: flags.has("inv-boot0") };
  if (rest.length === 1 && (rest[0] === "dtr-rts" || rest[0] === "rts-dtr")) {
    return new ModemLines(spec, rest[0] === "dtr-rts" ? "dtr" : "rts", inv.rst, inv.boot0);
  }
  if (rest[0] === "gpiod") {
    const chip = rest[1];
    const m = /^(\d+),(\d+)$/.exec(rest[2] ?? "");
    if (chip === undefined || chip === "" || m === null || rest.length !== 3) {
      throw bad("gpiod wants CHIP:RST,BOOT0 line offsets");
    }
    return new GpiodLines(spec, chip, { rst: Number(m[1]), boot0: Number(m[2]) }, inv, spawner);
  }
  throw bad("unknown backend");
}
