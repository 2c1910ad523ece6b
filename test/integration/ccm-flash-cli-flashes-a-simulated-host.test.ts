/**
 * `ccm flash` end to end: `ccm host-sim` (an emulated STM32 running its application) on one end of a
 * pty pair with its RST/BOOT0 served as sim lines, `ccm flash --lines sim:ADDR` on the other; and
 * what host-sim's --nack and --flash-file do to it.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { createBundle } from "../../src/fw/bundle.js";
import { makeFirmwareImage } from "../../src/sim/stm32/image.js";
import { runCli, spawnCli } from "../helpers/cli.js";
import { ptyPair } from "../helpers/socat.js";

/** A running `ccm host-sim`: its port, sim lines, a temp dir, what it logged; `stop` ends it (SIGTERM). */
interface HostSim {
  port: string;
  lines: string;
  dir: string;
  log: () => string;
  stop: () => Promise<void>;
}

async function hostSim(t: TestContext, args: string[]): Promise<HostSim> {
  const pair = await ptyPair(t);
  const dir = await mkdtemp(join(tmpdir(), "ccm-flash-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const child: ChildProcess = spawnCli([
    "host-sim",
    "--port",
    pair.b,
    "--lines-listen",
    "127.0.0.1:0",
    ...args,
  ]);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
  };
  t.after(stop);
  let err = "";
  const lines = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`host-sim did not start:\n${err}`));
    }, 15_000);
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /sim lines on (\S+)/.exec(err);
      if (m !== null && err.includes("running on")) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  return { port: pair.a, lines, dir, log: () => err, stop };
}

test("ccm flash resets the simulated host into its bootloader, flashes (leaving out the image's blank padding), verifies, and the host then reports the new fw_version", async (t) => {
  const sim = await hostSim(t, ["--no-pacing", "--fw-version", "1.0"]);
  const fw = join(sim.dir, "FIRMWARE.BIN");
  // 2048 bytes of 0xFF after the application, as a .bin padded to a size: blocks 40–47 are blank.
  const image = Buffer.concat([
    makeFirmwareImage({ size: 10_000, version: "2.1.0", seed: 9 }),
    Buffer.alloc(2048, 0xff),
  ]);
  await writeFile(fw, image);
  const r = await runCli(["flash", "--port", sim.port, "--lines", `sim:${sim.lines}`, fw], 30_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /flashed 12048 bytes of .*FIRMWARE\.BIN at 0x8000000 to STM32F10xxx Medium-density in \d+\.\d s, verified \(8 blank blocks of 0xFF not sent\); the host answers, fw_version "2\.1\.0"/,
  );
  // Not a TTY: plain progress lines, the last of each phase at 100 %.
  assert.match(r.stderr, /flash: STM32F10xxx Medium-density \(0x410\), bootloader v2\.2/);
  assert.match(r.stderr, /^erase\s+100% 12\/12/m);
  assert.match(r.stderr, /^write\s+100% 11\.8 KiB\/11\.8 KiB [\d.]+ kB\/s in/m);
  assert.match(r.stderr, /^verify\s+100%/m);

  const info = await runCli(["--port", sim.port, "call", "Sys.Info"]);
  assert.equal(info.code, 0, info.stderr);
  assert.equal((JSON.parse(info.stdout) as { fw_version: string }).fw_version, "2.1.0");
});

test("ccm flash refuses an address off a page boundary with a usage error naming the page", async (t) => {
  const sim = await hostSim(t, ["--no-pacing", "--chip", "0x413", "--mode", "bootloader"]);
  const fw = join(sim.dir, "fw.bin");
  await writeFile(fw, makeFirmwareImage({ size: 1000 }));
  const r = await runCli(["flash", "--port", sim.port, "--addr", "0x8000400", fw], 30_000);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /ccm: address 0x08000400 is not page-aligned: page 0 of STM32F40xxx\/41xxx starts at 0x08000000 \(16384 bytes\)/,
  );
});

test("ccm flash names the failed step when the host never answers after Go", async (t) => {
  const sim = await hostSim(t, ["--no-pacing", "--mode", "bootloader"]);
  const fw = join(sim.dir, "fw.bin");
  await writeFile(fw, makeFirmwareImage({ size: 1000, stackPointer: 0xffff_ffff }));
  const r = await runCli(["--timeout", "1s", "flash", "--port", sim.port, fw], 30_000);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /ccm: flashing failed at step confirm: the host did not answer after Go/);
});

test("ccm flash takes a fw bundle: its STM32 part goes to the part's addr; a corrupted bundle is refused before flashing with exit 2 (bad input)", async (t) => {
  const sim = await hostSim(t, ["--no-pacing", "--fw-version", "1.0"]);
  const bin = join(sim.dir, "FIRMWARE.BIN");
  await writeFile(bin, makeFirmwareImage({ size: 5000, version: "4.2", seed: 4 }));
  const zip = join(sim.dir, "fw.zip");
  const bundle = createBundle({
    name: "fw",
    platform: "ccm_host",
    parts: [{ name: "host_fw", type: "STM32", src: bin, addr: 0x0800_0000 }],
  });
  // A flipped byte in the part's data: the bytes just before the central directory are its end.
  const bad = Buffer.from(bundle);
  const cd = bad.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  bad[cd - 10]! ^= 0xff;
  await writeFile(join(sim.dir, "bad.zip"), bad);
  const refused = await runCli(
    ["flash", "--port", sim.port, "--lines", `sim:${sim.lines}`, join(sim.dir, "bad.zip")],
    30_000,
  );
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /host_fw|CRC|SHA/);
  await writeFile(zip, bundle);
  const r = await runCli(["flash", "--port", sim.port, "--lines", `sim:${sim.lines}`, zip], 30_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /flashed 5000 bytes of .*fw\.zip \(part host_fw\) at 0x8000000/);
  assert.match(r.stdout, /fw_version "4\.2"/);
});

test("ccm host-sim --nack 5 NACKs the bootloader's next five commands: ccm flash --retries 1 fails naming step get, then ccm flash rides out the rest of the storm", async (t) => {
  const sim = await hostSim(t, ["--no-pacing", "--fw-version", "1.0", "--nack", "5"]);
  const fw = join(sim.dir, "fw.bin");
  await writeFile(fw, makeFirmwareImage({ size: 3000, version: "5.1", seed: 51 }));
  const flash = (...args: string[]) =>
    runCli(["flash", "--port", sim.port, "--lines", `sim:${sim.lines}`, ...args, fw], 30_000);

  const failed = await flash("--retries", "1");
  assert.equal(failed.code, 3, failed.stderr);
  assert.match(failed.stderr, /ccm: flashing failed at step get: no success after 2 attempts: .*NACK/);
  // Nothing was erased: the host was reset back into its application.
  const info = await runCli(["--port", sim.port, "call", "Sys.Info"]);
  assert.equal(info.code, 0, info.stderr);
  assert.equal((JSON.parse(info.stdout) as { fw_version: string }).fw_version, "1.0");

  // Three NACKs are left: within the default 5 retries.
  const r = await flash();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /flashed 3000 bytes .* verified; the host answers, fw_version "5\.1"/);
});

test("ccm host-sim --flash-file keeps the flash across runs: what ccm flash wrote is in the file, and a new host-sim on it runs that image", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ccm-flash-file-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "flash.bin");
  const sim = await hostSim(t, ["--no-pacing", "--fw-version", "1.0", "--flash-file", file]);
  const image = makeFirmwareImage({ size: 5000, version: "2.2", seed: 22 });
  const fw = join(sim.dir, "fw.bin");
  await writeFile(fw, image);
  const r = await runCli(["flash", "--port", sim.port, "--lines", `sim:${sim.lines}`, fw], 30_000);
  assert.equal(r.code, 0, r.stderr);
  await sim.stop();
  const saved = await readFile(file);
  assert.equal(saved.length, 128 * 1024, "the whole flash of the 0x410");
  assert.deepEqual(saved.subarray(0, image.length), image);

  const again = await hostSim(t, ["--no-pacing", "--fw-version", "1.0", "--flash-file", file]);
  assert.match(again.log(), /running on .*STM32F10xxx Medium-density, app, fw 2\.2\)/);
  const info = await runCli(["--port", again.port, "call", "Sys.Info"]);
  assert.equal(info.code, 0, info.stderr);
  assert.equal((JSON.parse(info.stdout) as { fw_version: string }).fw_version, "2.2");
});
