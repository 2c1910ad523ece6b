/**
 * GPIO lines through the libgpiod command-line tools. Their syntax changed between 1.x (Debian
 * bookworm's 1.6: `gpioget -B pull-up CHIP OFFSET`, `gpioset --mode=signal CHIP OFFSET=1`, `gpiomon
 * -b` for line-buffered output) and 2.x (trixie: `--chip CHIP`, `--bias=pull-up`, gpioset holds the
 * line until killed and blinks it itself with `--toggle`); `gpioset --version` tells which is installed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { CcmError } from "../errors.js";
import type { InputLine, Level, OutputLine } from "./digital-line.js";

/** Starts a tool; tests inject one that runs faithful fakes. */
export type Spawner = (file: string, args: readonly string[]) => ChildProcess;

const realSpawn: Spawner = (file, args) => spawn(file, [...args], { stdio: ["ignore", "pipe", "pipe"] });

/** The tools' major version: their command lines differ. */
export type GpiodMajor = 1 | 2;

/** The argv of each operation, per major version (the tools' `--help`, libgpiod tools/*.c). */
export const GPIOD_ARGV = {
  1: {
    get: (chip: string, offset: number, pullUp: boolean) => [...bias1(pullUp), chip, String(offset)],
    // -b: line-buffered, else glibc holds the events back while stdout is a pipe.
    watch: (chip: string, offset: number, pullUp: boolean) => ["-b", ...bias1(pullUp), chip, String(offset)],
    hold: (chip: string, offset: number, level: Level) => ["--mode=signal", chip, `${offset}=${level}`],
    blink: undefined,
  },
  2: {
    get: (chip: string, offset: number, pullUp: boolean) => [
      ...bias2(pullUp),
      "--chip",
      chip,
      String(offset),
    ],
    watch: (chip: string, offset: number, pullUp: boolean) => [
      ...bias2(pullUp),
      "--chip",
      chip,
      String(offset),
    ],
    // --banner: a line on stdout once the line is set, so a caller knows when it is.
    hold: (chip: string, offset: number, level: Level) => ["--banner", "--chip", chip, `${offset}=${level}`],
    blink: (chip: string, offset: number, first: Level, halfMs: number) => [
      "--banner",
      "--toggle",
      `${halfMs}ms`,
      "--chip",
      chip,
      `${offset}=${first}`,
    ],
  },
} as const;

function bias1(pullUp: boolean): string[] {
  return pullUp ? ["-B", "pull-up"] : [];
}

function bias2(pullUp: boolean): string[] {
  return pullUp ? ["--bias=pull-up"] : [];
}

/** `gpioset (libgpiod) v1.6.3` → 1; undefined for anything else. */
export function parseGpiodVersion(text: string): GpiodMajor | undefined {
  const major = /\(libgpiod\)\s+v?(\d+)\./.exec(text)?.[1];
  return major === "1" ? 1 : major === "2" ? 2 : undefined;
}

/** The installed tools: how to start them, and which syntax they speak (asked once). */
export class GpiodTools {
  readonly spawn: Spawner;
  private probe: Promise<GpiodMajor> | undefined;

  constructor(spawner: Spawner = realSpawn) {
    this.spawn = spawner;
  }

  /** The major version from `gpioset --version`; 1 (bookworm's) when it cannot be told. */
  version(): Promise<GpiodMajor> {
    this.probe ??= new Promise((resolve) => {
      const child = this.spawn("gpioset", ["--version"]);
      let out = "";
      const done = (): void => {
        clearTimeout(timer);
        resolve(parseGpiodVersion(out) ?? 1);
      };
      const timer = setTimeout(() => {
        child.kill();
        done();
      }, 5000);
      child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr?.resume();
      child.once("error", done);
      child.once("close", done);
    });
    return this.probe;
  }
}

/** A line read with `gpioget` and watched with `gpiomon`; `pullUp` asks for the pull-up bias. */
export class GpiodInput implements InputLine {
  private readonly chip: string;
  private readonly offset: number;
  private readonly pullUp: boolean;
  private readonly tools: GpiodTools;

  constructor(chip: string, offset: number, pullUp: boolean, tools = new GpiodTools()) {
    this.chip = chip;
    this.offset = offset;
    this.pullUp = pullUp;
    this.tools = tools;
  }

  /** `gpioget` → 0 or 1 (1.x prints `1`, 2.x `"17"=active`). */
  async read(): Promise<Level> {
    const argv = GPIOD_ARGV[await this.tools.version()].get(this.chip, this.offset, this.pullUp);
    return new Promise((resolve, reject) => {
      const child = this.tools.spawn("gpioget", argv);
      let out = "";
      let err = "";
      child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
      child.once("error", reject);
      child.once("close", (code) => {
        const value = out.trim().split(/[=\s]/).pop();
        if (code === 0) resolve(value === "1" || value === "active" ? 1 : 0);
        else reject(toolFailed(`gpioget ${argv.join(" ")}`, code, err));
      });
    });
  }

  /** `gpiomon`: rising edges report 1, falling 0, until the returned function is called. */
  watch(onChange: (level: Level) => void, onError?: (e: unknown) => void): () => void {
    let child: ChildProcess | undefined;
    let stopped = false;
    void this.tools.version().then((major) => {
      if (stopped) return;
      const argv = GPIOD_ARGV[major].watch(this.chip, this.offset, this.pullUp);
      const c = this.tools.spawn("gpiomon", argv);
      child = c;
      let buffer = "";
      let err = "";
      c.stderr?.on("data", (d: Buffer) => (err += d.toString()));
      c.once("error", (e) => onError?.(e));
      c.once("close", (code) => {
        if (!stopped) onError?.(toolFailed(`gpiomon ${argv.join(" ")}`, code, err));
      });
      c.stdout?.on("data", (d: Buffer) => {
        buffer += d.toString();
        const lines = buffer.split("\n");
        buffer = lines.pop() ?? "";
        for (const line of lines) {
          if (/rising/i.test(line)) onChange(1);
          else if (/falling/i.test(line)) onChange(0);
        }
      });
    });
    return () => {
      stopped = true;
      child?.kill();
    };
  }
}

/**
 * A line held by one `gpioset` at a time. A new level waits for the previous holder to exit (the
 * kernel lets one process request a line). Blinking is one `gpioset --toggle` on 2.x; 1.x has no
 * such mode, so there each blink step is a new process.
 */
export class GpiodOutput implements OutputLine {
  private readonly chip: string;
  private readonly offset: number;
  private readonly tools: GpiodTools;
  private readonly onError: ((e: unknown) => void) | undefined;
  private holder: ChildProcess | undefined;
  /** What the line is doing now: `1`, `0`, `blink 1 125`, or undefined when released. */
  private doing: string | undefined;
  private chain: Promise<void> = Promise.resolve();
  private stepTimer: NodeJS.Timeout | undefined;

  constructor(chip: string, offset: number, tools = new GpiodTools(), onError?: (e: unknown) => void) {
    this.chip = chip;
    this.offset = offset;
    this.tools = tools;
    this.onError = onError;
  }

  /** Drives the line to `level` (OutputLine); see drive(). */
  write(level: Level): void {
    void this.drive(level);
  }

  /** Blinks the line (OutputLine); see driveBlink(). */
  blink(first: Level, halfMs: number): void {
    void this.driveBlink(first, halfMs);
  }

  /** Drives the line to `level`; resolves once it is set (nothing new when it is there already). */
  drive(level: Level): Promise<void> {
    return this.plan(String(level), (major) => ({
      argv: GPIOD_ARGV[major].hold(this.chip, this.offset, level),
    }));
  }

  /** Alternates the line from `first`, switching every `halfMs`, until the next drive, blink or close. */
  driveBlink(first: Level, halfMs: number): Promise<void> {
    return this.plan(`blink ${first} ${halfMs}`, (major) => {
      const argv = GPIOD_ARGV[major].blink?.(this.chip, this.offset, first, halfMs);
      if (argv !== undefined) return { argv };
      // 1.x: hold `first`, then the other level after halfMs, and so on.
      return {
        argv: GPIOD_ARGV[major].hold(this.chip, this.offset, first),
        next: () => {
          this.step(first, halfMs);
        },
      };
    });
  }

  /** Releases the line: the holder is told to exit now (a CCM exiting must not leave it holding). */
  close(): void {
    this.doing = undefined;
    this.cancelStep();
    this.holder?.kill();
    this.chain = this.chain.then(() => this.release());
  }

  private step(level: Level, halfMs: number): void {
    const wanted = this.doing;
    this.stepTimer = setTimeout(() => {
      this.stepTimer = undefined;
      if (this.doing !== wanted) return;
      const other: Level = level === 1 ? 0 : 1;
      this.chain = this.chain.then(async () => {
        if (this.doing !== wanted) return;
        await this.replaceHolder(GPIOD_ARGV[1].hold(this.chip, this.offset, other), wanted);
        if (this.doing === wanted) this.step(other, halfMs);
      });
    }, halfMs);
  }

  private plan(
    what: string,
    how: (major: GpiodMajor) => { argv: readonly string[]; next?: () => void },
  ): Promise<void> {
    if (what === this.doing) return this.chain;
    this.doing = what;
    this.cancelStep();
    this.chain = this.chain.then(async () => {
      if (this.doing !== what) return;
      const p = how(await this.tools.version());
      await this.replaceHolder(p.argv, what);
      if (this.doing === what) p.next?.();
    });
    return this.chain;
  }

  /**
   * Replaces the holder with `gpioset argv` for `what`, once the old one has exited; resolves when the new one
   * has set the line (2.x prints its banner then) or, for 1.x, which says nothing, once it runs.
   */
  private async replaceHolder(argv: readonly string[], what: string | undefined): Promise<void> {
    await this.release();
    // Closed or told something else while the old holder was exiting.
    if (this.doing !== what) return;
    const child = this.tools.spawn("gpioset", argv);
    this.holder = child;
    let err = "";
    const banner = argv.includes("--banner");
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      const ready = (): void => {
        clearTimeout(timer);
        resolve();
      };
      child.stdout?.on("data", () => {
        if (banner) ready();
      });
      child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
      child.once("spawn", () => {
        if (!banner) ready();
      });
      child.once("error", (e) => {
        ready();
        this.onError?.(e);
      });
      child.once("exit", (code, signal) => {
        ready();
        if (this.holder === child) this.holder = undefined;
        if (signal === null && code !== 0) this.onError?.(toolFailed(`gpioset ${argv.join(" ")}`, code, err));
      });
    });
  }

  private async release(): Promise<void> {
    const child = this.holder;
    this.holder = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      child.once("error", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    child.kill();
    await exited;
  }

  private cancelStep(): void {
    if (this.stepTimer !== undefined) clearTimeout(this.stepTimer);
    this.stepTimer = undefined;
  }
}

function toolFailed(what: string, code: number | null, stderr: string): CcmError {
  const why = stderr.trim() === "" ? `exit code ${String(code)}` : stderr.trim();
  return new CcmError("LINE_FAILED", `${what} failed: ${why}`);
}
