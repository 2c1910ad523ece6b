/**
 * GPIO lines through the libgpiod 1.x command-line tools: `gpioget` to read, `gpiomon` to watch,
 * `gpioset --mode=signal` to hold an output (a new level replaces the holding process).
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { InputLine, Level, OutputLine } from "./digital-line.js";

/** Starts a long-running tool; tests inject a recording fake. */
export type Spawner = (file: string, args: readonly string[]) => ChildProcess;

const realSpawn: Spawner = (file, args) => spawn(file, [...args], { stdio: ["ignore", "pipe", "ignore"] });

/** A line read with `gpioget` and watched with `gpiomon`; `pullUp` asks for the pull-up bias. */
export class GpiodInput implements InputLine {
  private readonly chip: string;
  private readonly offset: number;
  private readonly pullUp: boolean;
  private readonly spawner: Spawner;

  constructor(chip: string, offset: number, pullUp: boolean, spawner: Spawner = realSpawn) {
    this.chip = chip;
    this.offset = offset;
    this.pullUp = pullUp;
    this.spawner = spawner;
  }

  /** `gpioget [-B pull-up] CHIP OFFSET` → 0 or 1. */
  read(): Promise<Level> {
    return new Promise((resolve, reject) => {
      const child = this.spawner("gpioget", [...this.bias(), this.chip, String(this.offset)]);
      let out = "";
      child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
      child.once("error", reject);
      child.once("close", (code) => {
        // libgpiod 1.x prints `1`, 2.x prints `"17"=active`.
        const value = out.trim().split(/[=\s]/).pop();
        if (code === 0) resolve(value === "1" || value === "active" ? 1 : 0);
        else reject(new Error(`gpioget ${this.chip} ${this.offset} failed (exit ${String(code)})`));
      });
    });
  }

  /** `gpiomon [-B pull-up] CHIP OFFSET`: rising edges report 1, falling 0. */
  watch(onChange: (level: Level) => void): () => void {
    const child = this.spawner("gpiomon", [...this.bias(), this.chip, String(this.offset)]);
    child.once("error", () => undefined);
    let buffer = "";
    child.stdout?.on("data", (d: Buffer) => {
      buffer += d.toString();
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        if (/rising/i.test(line)) onChange(1);
        else if (/falling/i.test(line)) onChange(0);
      }
    });
    return () => child.kill();
  }

  private bias(): string[] {
    return this.pullUp ? ["-B", "pull-up"] : [];
  }
}

/** A line held at a level by `gpioset --mode=signal CHIP OFFSET=LEVEL`. */
export class GpiodOutput implements OutputLine {
  private holder: ChildProcess | undefined;
  private level: Level | undefined;
  private readonly chip: string;
  private readonly offset: number;
  private readonly spawner: Spawner;

  constructor(chip: string, offset: number, spawner: Spawner = realSpawn) {
    this.chip = chip;
    this.offset = offset;
    this.spawner = spawner;
  }

  /** Drives the line to `level` (no new process when it already is there). */
  write(level: Level): void {
    if (level === this.level) return;
    this.holder?.kill();
    this.level = level;
    this.holder = this.spawner("gpioset", ["--mode=signal", this.chip, `${this.offset}=${level}`]);
    this.holder.once("error", () => undefined);
  }

  close(): void {
    this.holder?.kill();
    this.holder = undefined;
    this.level = undefined;
  }
}
