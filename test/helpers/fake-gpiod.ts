/**
 * The libgpiod tools faked for tests (this machine has no GPIO chip and cannot load gpio-sim):
 * `gpioget`, `gpioset` and `gpiomon` executables in a temp `bin/` that run fake-gpiod-cli.mjs as the
 * 1.x or 2.x tools would behave. Tests press buttons by writing a line's level, and read back every
 * invocation and every level an output was driven to.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import type { Level } from "../../src/lines/digital-line.js";
import type { Spawner } from "../../src/lines/gpiod.js";

const cli = fileURLToPath(new URL("./fake-gpiod-cli.mjs", import.meta.url));

export interface FakeGpiod {
  /** Holds gpioget, gpioset and gpiomon: put it first on PATH. */
  bin: string;
  /** Starts the fake tools from `bin`, as the real spawner starts the real ones from PATH. */
  spawner: Spawner;
  /** Sets the level an input line shows (a button pressed or released). */
  setInput(chip: string, offset: number, level: Level): Promise<void>;
  /** Every invocation so far: the tool and its arguments. */
  calls(): Promise<{ tool: string; argv: string[]; pid: number }[]>;
  /** Every level an output was driven to, with the time (ms since the epoch). */
  levels(chip: string, offset: number): Promise<{ t: number; level: Level }[]>;
  /** Pids of processes holding lines now. */
  holders(): Promise<number[]>;
}

/** Installs fake libgpiod tools of `major` version in a temp dir removed after the test. */
export async function fakeGpiod(t: TestContext, major: 1 | 2): Promise<FakeGpiod> {
  const dir = await mkdtemp(join(tmpdir(), `ccm-gpiod${major}-`));
  // A test that fails mid-way leaves its gpiomon / gpioset running: end them, or the file never ends.
  const children = new Set<ChildProcess>();
  t.after(async () => {
    for (const child of children) child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  });
  const bin = join(dir, "bin");
  await mkdir(bin);
  for (const tool of ["gpioget", "gpioset", "gpiomon"]) {
    const file = join(bin, tool);
    await writeFile(
      file,
      `#!/bin/sh\nFAKE_GPIOD_DIR='${dir}' FAKE_GPIOD_MAJOR=${major} exec '${process.execPath}' '${cli}' ${tool} "$@"\n`,
    );
    await chmod(file, 0o755);
  }
  const lines = async (file: string): Promise<string[]> =>
    (await readFile(join(dir, file), "utf8").catch(() => "")).split("\n").filter((l) => l !== "");
  return {
    bin,
    spawner: (file, args) => {
      const child = spawn(join(bin, file), [...args], { stdio: ["ignore", "pipe", "pipe"] });
      children.add(child);
      child.once("exit", () => children.delete(child));
      return child;
    },
    setInput: (chip, offset, level) => writeFile(join(dir, "lines", `${chip}-${offset}`), String(level)),
    calls: async () =>
      (await lines("calls.jsonl")).map((l) => JSON.parse(l) as { tool: string; argv: string[]; pid: number }),
    levels: async (chip, offset) =>
      (await lines(`levels/${chip}-${offset}.log`)).map((l) => {
        const [t, level] = l.split(" ");
        return { t: Number(t), level: level === "1" ? 1 : 0 };
      }),
    holders: async () => {
      const names = await readdir(join(dir, "owners")).catch(() => []);
      // A holder may let go between the listing and the read: its file is gone, it reads as 0.
      const pids = await Promise.all(
        names.map(async (n) => Number(await readFile(join(dir, "owners", n), "utf8").catch(() => "0"))),
      );
      return pids.filter((pid) => {
        if (pid === 0) return false;
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      });
    },
  };
}
