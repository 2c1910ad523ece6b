/**
 * An emulated STM32 with its two personalities on one UART: the application (the simulated host's
 * JSON-RPC firmware) and the ROM bootloader, chosen the way the silicon chooses: BOOT0 is sampled
 * when NRST is released. Go from the bootloader starts the application too. An application only
 * runs when the flash holds a bootable vector table; otherwise the part sits silent ("halted").
 *
 * The application itself is not here: {@link Stm32Mcu.wrap} puts the MCU between the UART and
 * whoever runs the application (HostSimulator), passing bytes through only while it runs.
 */
import { EventEmitter } from "node:events";
import type { Level } from "../../lines/digital-line.js";
import type { ByteTransport, TransportEvents } from "../../transports/transport.js";
import { Stm32Bootloader } from "./bootloader.js";
import { chipByPid, withFlashSize, type ChipProfile } from "./chips.js";
import { pendingFaults, type Stm32Fault } from "./faults.js";
import { firmwareVersionOf, looksBootable } from "./image.js";
import { Stm32Memory } from "./memory.js";

export type Personality = "app" | "bootloader" | "halted" | "reset";

export interface Stm32McuOptions {
  /** Product id of the part (default 0x410, STM32F10xxx medium density). */
  chip?: number;
  /** Flash of this part in KiB, as its flash size register says (default: the family's most). */
  flashKib?: number;
  /** The bootloader refuses reads of the flash size register (default false). */
  hideFlashSize?: boolean;
  /** Start in the bootloader (BOOT0 high) instead of the application (default "app"). */
  mode?: "app" | "bootloader";
  /** UART speed the bootloader is paced at (default 115200). */
  baud?: number;
  /** Wire-time, program and erase pacing (default true). */
  pacing?: boolean;
  /** Flash contents persist here (raw image of the whole flash). */
  flashFile?: string;
  /** Flash this image at the flash base when the flash is blank at start (a factory image). */
  initialImage?: Buffer;
  /** ms from NRST release (or Go) to the application's first output (default 20). */
  appStartMs?: number;
}

export interface Stm32McuEvents {
  /** The personality changed. */
  personality: [personality: Personality];
}

/** The emulated part: memory, the bootloader, the RST/BOOT0 lines and the UART multiplexer. */
export class Stm32Mcu extends EventEmitter<Stm32McuEvents> {
  readonly chip: ChipProfile;
  readonly memory: Stm32Memory;
  readonly pacing: boolean;
  readonly baud: number;
  private readonly lines: { rst: Level; boot0: Level };
  private state: Personality = "reset";
  private bootloaderInstance: Stm32Bootloader | undefined;
  private uart: ByteTransport | undefined;
  private startTimer: NodeJS.Timeout | undefined;
  private readonly appStartMs: number;
  private readonly faults: Stm32Fault[] = [];

  constructor(options: Stm32McuOptions = {}) {
    super();
    const family = chipByPid(options.chip ?? 0x410);
    this.chip = options.flashKib === undefined ? family : withFlashSize(family, options.flashKib);
    this.memory = new Stm32Memory(this.chip, options.flashFile, {
      flashSizeReadable: options.hideFlashSize !== true,
    });
    this.pacing = options.pacing ?? true;
    this.baud = options.baud ?? 115200;
    this.appStartMs = options.appStartMs ?? 20;
    if (options.initialImage !== undefined && this.memory.flash.every((b) => b === 0xff)) {
      this.memory.write(this.chip.flashBase, options.initialImage);
    }
    this.lines = { rst: 1, boot0: options.mode === "bootloader" ? 1 : 0 };
    this.boot(this.lines.boot0 === 1 ? "bootloader" : "app", 0);
  }

  get personality(): Personality {
    return this.state;
  }

  /** The bootloader while it runs. */
  get bootloader(): Stm32Bootloader | undefined {
    return this.bootloaderInstance;
  }

  /** Line levels as wired (electrical): rst 0 holds the part in reset; boot0 1 selects the bootloader. */
  get lineLevels(): { rst: Level; boot0: Level } {
    return { ...this.lines };
  }

  /** The version in the flashed image's marker (image.ts), or undefined. */
  get firmwareVersion(): string | undefined {
    return firmwareVersionOf(this.memory.flash);
  }

  /** Drives a line: NRST low stops the part, its rising edge boots per BOOT0. */
  setLine(line: "rst" | "boot0", level: Level): void {
    const was = this.lines[line];
    this.lines[line] = level;
    if (line !== "rst" || was === level) return;
    if (level === 0) this.enter("reset");
    else this.boot(this.lines.boot0 === 1 ? "bootloader" : "app", this.appStartMs);
  }

  /** A reset as the NRST pin gives it (also what the bootloader does after protection changes). */
  reset(): void {
    this.enter("reset");
    if (this.lines.rst === 1) this.boot(this.lines.boot0 === 1 ? "bootloader" : "app", this.appStartMs);
  }

  /** NACKs the next `count` bootloader commands (code `command`, or any): survives resets until used. */
  injectNacks(count: number, command?: number): void {
    this.injectFault(command === undefined ? { kind: "nack", count } : { kind: "nack", count, command });
  }

  /** Plans a bootloader fault (faults.ts): survives resets until used. */
  injectFault(fault: Stm32Fault): void {
    this.faults.push(fault);
  }

  /** Injected NACKs not yet given. */
  get nacksPending(): number {
    return pendingFaults(this.faults.filter((f) => f.kind === "nack"));
  }

  /** Injected faults not yet used (NACKs and counted faults by their count). */
  get faultsPending(): number {
    return pendingFaults(this.faults);
  }

  /** Puts the MCU on a UART: bytes reach the application only while it runs. */
  wrap(uart: ByteTransport): ByteTransport {
    return new McuPort(this, uart);
  }

  /** Stops timers and writes the flash file. */
  close(): void {
    clearTimeout(this.startTimer);
    this.bootloaderInstance?.stop();
    this.memory.flush();
  }

  /** @internal the UART the MCU answers on. */
  attach(uart: ByteTransport | undefined): void {
    this.uart = uart;
  }

  /** @internal bytes from the UART. Returns true when the application should get them. */
  input(chunk: Buffer): boolean {
    if (this.state === "bootloader") this.bootloaderInstance?.receive(chunk);
    return this.state === "app";
  }

  private enter(state: Personality): void {
    clearTimeout(this.startTimer);
    this.bootloaderInstance?.stop();
    this.bootloaderInstance = undefined;
    if (state === this.state) return;
    this.state = state;
    this.emit("personality", state);
  }

  private boot(which: "app" | "bootloader", appDelayMs: number, address = this.chip.flashBase): void {
    if (which === "bootloader") {
      this.enter("bootloader");
      const bl = new Stm32Bootloader({
        memory: this.memory,
        baud: this.baud,
        pacing: this.pacing,
        send: (bytes) => {
          this.uart?.write(bytes).catch(() => undefined);
        },
        onGo: (a) => {
          this.go(a);
        },
        onSystemReset: () => {
          this.reset();
        },
        faults: this.faults,
      });
      this.bootloaderInstance = bl;
      return;
    }
    this.enter("halted");
    const start = (): void => {
      const offset = address - this.chip.flashBase;
      this.enter(looksBootable(this.memory.flash, offset, this.chip.flashBase) ? "app" : "halted");
    };
    if (appDelayMs === 0) start();
    else this.startTimer = setTimeout(start, appDelayMs);
  }

  private go(address: number): void {
    if (this.memory.region(address, 4) === "ram") {
      // stm32flash -R runs a SYSRESETREQ stub from RAM: a system reset.
      this.reset();
      return;
    }
    this.boot("app", this.appStartMs, address);
  }
}

/** The UART as the application sees it through the MCU. */
class McuPort extends EventEmitter<TransportEvents> implements ByteTransport {
  private readonly mcu: Stm32Mcu;
  private readonly uart: ByteTransport;

  constructor(mcu: Stm32Mcu, uart: ByteTransport) {
    super();
    this.mcu = mcu;
    this.uart = uart;
    uart.on("data", (chunk) => {
      if (this.mcu.input(chunk)) this.emit("data", chunk);
    });
    uart.on("close", (error) => {
      this.mcu.attach(undefined);
      this.emit("close", error);
    });
  }

  get path(): string {
    return this.uart.path;
  }

  get isOpen(): boolean {
    return this.uart.isOpen;
  }

  async open(): Promise<void> {
    await this.uart.open();
    this.mcu.attach(this.uart);
  }

  /** The application's output: dropped unless the application runs. */
  write(data: Uint8Array | string): Promise<void> {
    if (this.mcu.personality !== "app") return Promise.resolve();
    return this.uart.write(data);
  }

  close(): Promise<void> {
    return this.uart.close();
  }
}
