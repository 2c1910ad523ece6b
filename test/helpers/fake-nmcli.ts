/**
 * NetworkManager's `nmcli` faked for tests that run `ccm start` as a process (this machine has no
 * NetworkManager): an `nmcli` executable in a temp `bin/` that runs fake-nmcli-cli.mjs, recording
 * every command line and keeping the connection profiles those commands create and delete.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("./fake-nmcli-cli.mjs", import.meta.url));

/** A connection profile as the fake NetworkManager holds it. */
export interface FakeProfile {
  uuid: string;
  ssid: string;
  mode: string;
  autoconnect: boolean;
  active: boolean;
}

export interface FakeNmcli {
  /** Holds `nmcli`: put it first on PATH. */
  bin: string;
  /** Every command line so far, as `nmcli ARG ARG…` (arguments joined by spaces). */
  calls(): Promise<string[]>;
  /** The connection profiles NetworkManager keeps now, by name. */
  profiles(): Promise<Record<string, FakeProfile>>;
}

/** Installs the fake nmcli in a temp dir removed after the test. */
export async function fakeNmcli(t: TestContext): Promise<FakeNmcli> {
  const dir = await mkdtemp(join(tmpdir(), "ccm-nmcli-"));
  // A hook that fails skips the later ones (the one ending `ccm start`): retry what a last nmcli
  // still writing makes fail.
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 5 }));
  const bin = join(dir, "bin");
  await mkdir(bin);
  await writeFile(
    join(bin, "nmcli"),
    `#!/bin/sh\nFAKE_NMCLI_DIR='${dir}' exec '${process.execPath}' '${cli}' "$@"\n`,
  );
  await chmod(join(bin, "nmcli"), 0o755);
  const text = (name: string): Promise<string> => readFile(join(dir, name), "utf8").catch(() => "");
  return {
    bin,
    calls: async () =>
      (await text("calls.jsonl"))
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => ["nmcli", ...(JSON.parse(l) as string[])].join(" ")),
    profiles: async () => JSON.parse((await text("profiles.json")) || "{}") as Record<string, FakeProfile>,
  };
}
