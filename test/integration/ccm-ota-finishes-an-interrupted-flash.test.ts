/**
 * A host update cut short mid-flash is finished, not abandoned: unplugging the host (killing socat
 * under the pty) or killing the CCM (SIGKILL of `ccm start`) while the emulated STM32 is being
 * written leaves it in its bootloader with a half-written flash; when the host is back, or at the
 * CCM's next start, the new image is flashed again and the host runs it.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, spawnCli } from "../helpers/cli.js";
import { until } from "../helpers/daemon.js";
import { otaRig, hostBundle } from "../helpers/ota.js";
import { tempDir } from "../helpers/remote.js";
import { freePort } from "../helpers/socat.js";
import { startEmulator } from "../helpers/stm32.js";
import { makeFirmwareImage } from "../../src/sim/stm32/image.js";

/** A 24 KiB image: over a second of paced writing, time enough to cut it short. */
const SIZE = 24 * 1024;

interface Status {
  state: number;
  message?: string;
  pending?: string;
  host_fw_version?: string;
  progress?: { step: string; done: number; total: number };
}

test("a host unplugged mid-flash is flashed again when it is plugged back in, and OTA.Status says what happened", async (t) => {
  const { daemon, emu, port, bundle } = await otaRig(t, { pacing: true });
  const zip = await bundle("2.0", { size: SIZE });
  const status = (): Status => daemon.hostOta!.status() as unknown as Status;
  const cli = runCli(["--port", port, "ota", zip], 120_000);
  await until(() => status().progress?.step === "host_fw write", "the write under way", 60_000);
  await emu.pair.kill();

  const r = await cli;
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /flashing 2\.0 was cut short \(.*\); it is flashed again when the host or its bootloader answers/,
  );
  assert.equal(status().pending, "2.0");
  assert.notEqual(emu.mcu.personality, "app", "the host is left in its bootloader, half written");
  await until(
    () => /host does not answer yet/.test(status().message ?? ""),
    "a retry while unplugged",
    20_000,
  );

  await emu.pair.restart();
  await until(() => daemon.host.info.sys_info?.fw_version === "2.0", "the host runs 2.0", 90_000);
  const s = status();
  assert.equal(s.state, 0, s.message);
  assert.match(s.message ?? "", /^host runs 2\.0 \(flashed again after: flashing 2\.0 was cut short/);
  assert.equal(s.pending, undefined);
  assert.equal(emu.mcu.personality, "app");
});

test("a CCM killed (SIGKILL) mid-flash flashes the image again at its next start, and the host runs it", async (t) => {
  const emu = await startEmulator(t, {
    chip: 0x410,
    pacing: true,
    initialImage: makeFirmwareImage({ version: "1.0", size: 4096 }),
  });
  const dir = await tempDir(t);
  const dataDir = join(dir, "data");
  const zip = await hostBundle(dir, "2.0", { size: SIZE });
  const httpPort = await freePort();
  const url = `http://127.0.0.1:${httpPort}/rpc`;
  const start = () => {
    const child = spawnCli([
      "start",
      "--data-dir",
      dataDir,
      "--host-port",
      emu.port,
      "--http-listen",
      `127.0.0.1:${httpPort}`,
      "--set",
      `host.lines=${emu.linesSpec}`,
      "--set",
      "host.confirm_s=10",
      "--set",
      "host.ping_ms=0",
    ]);
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    return child;
  };
  const status = async (): Promise<Status | undefined> => {
    try {
      return (await (await fetch(`${url}/OTA.Status`)).json()) as Status;
    } catch {
      return undefined;
    }
  };
  const waitFor = async (ok: (s: Status) => boolean, what: string): Promise<Status> => {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const s = await status();
      if (s !== undefined && ok(s)) return s;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  const first = start();
  await waitFor((s) => s.host_fw_version === "1.0", "the first CCM and its host on 1.0");
  const cli = runCli(["--port", url, "ota", zip], 120_000);
  await waitFor((s) => s.progress?.step === "host_fw write", "the write under way");
  const gone = new Promise((resolve) => first.once("exit", resolve));
  first.kill("SIGKILL");
  await gone;
  assert.notEqual((await cli).code, 0, "ccm ota loses its CCM");
  assert.equal(emu.mcu.personality, "bootloader", "the host is left in its bootloader, half written");
  const marker = JSON.parse(await readFile(join(dataDir, "ota", "state.json"), "utf8")) as Record<
    string,
    unknown
  >;
  assert.deepEqual([marker.phase, marker.image, marker.touched], ["applying", "staged", true]);

  start();
  const s = await waitFor(
    (x) => x.state === 0 && x.host_fw_version === "2.0",
    "the host on 2.0 after the restart",
  );
  assert.match(s.message ?? "", /^host runs 2\.0 \(flashed again after: the CCM stopped while applying it\)/);
  assert.equal(emu.mcu.personality, "app");
  const image = await readFile(join(dir, "fw-2.0.bin"));
  assert.ok(emu.mcu.memory.flash.subarray(0, image.length).equals(image), "the flash holds the whole image");
});
