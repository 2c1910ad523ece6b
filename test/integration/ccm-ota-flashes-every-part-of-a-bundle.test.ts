/**
 * Host OTA with a bundle of several STM32 parts (made from an Intel HEX with a gap): `ccm ota` over
 * HTTP to a CCM whose host is an emulated STM32 on a socat pty, RST/BOOT0 through `sim` lines.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { createBundle } from "../../src/fw/bundle.js";
import { makeFirmwareImage } from "../../src/sim/stm32/image.js";
import { runCli } from "../helpers/cli.js";
import { intelHex } from "../helpers/intel-hex.js";
import { otaRig, stm32Bundle } from "../helpers/ota.js";
import { watchFlash } from "../helpers/stm32.js";

test("a bundle made from a .hex with a gap is flashed over the air in one bootloader session: both parts land and the host answers with the new fw_version", async (t) => {
  const { daemon, dir, port, emu } = await otaRig(t);
  const seen = watchFlash(emu);
  // STM32F10xxx medium density, 1 KiB pages: the application ends at 0x080011f8 in page 4
  // (0x08001000–0x080013ff), the table starts 512 bytes later in the same page and ends in page 5.
  const app = makeFirmwareImage({ size: 4600, version: "2.0", seed: 20 });
  const table = makeFirmwareImage({ size: 1000, seed: 21 });
  emu.mcu.memory.write(0x0800_1300, Buffer.from("old!"));
  await writeFile(
    join(dir, "app.hex"),
    intelHex([
      { address: 0x0800_0000, data: app },
      { address: 0x0800_13f8, data: table },
    ]),
  );
  const zip = join(dir, "fw-2.0.zip");
  await writeFile(
    zip,
    createBundle({
      name: "fw",
      platform: "ccm_host",
      version: "2.0",
      parts: [{ name: "host_fw", type: "STM32", src: join(dir, "app.hex") }],
    }),
  );
  const r = await runCli(["--port", port, "ota", zip], 60_000);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "2.0\n");
  assert.equal(daemon.host.info.sys_info?.fw_version, "2.0");
  assert.deepEqual(seen.erased, [0, 1, 2, 3, 4, 5], "pages 0–5, page 4 once");
  assert.equal(seen.bootloaderVisits(), 1, "one bootloader session for both parts");
  const flash = emu.mcu.memory;
  assert.deepEqual(flash.read(0x0800_0000, app.length), app);
  assert.deepEqual(flash.read(0x0800_13f8, table.length), table);
  assert.deepEqual(flash.read(0x0800_11f8, 0x200), Buffer.alloc(0x200, 0xff), "the gap is erased");
});

test("a bundle whose STM32 parts overlap is refused before the host is touched", async (t) => {
  const { daemon, dir, port, emu } = await otaRig(t);
  const seen = watchFlash(emu);
  const zip = await stm32Bundle(
    dir,
    "overlap.zip",
    [
      { name: "host_fw", data: makeFirmwareImage({ size: 4096, version: "2.0" }), addr: 0x0800_0000 },
      { name: "table", data: makeFirmwareImage({ size: 512, seed: 5 }), addr: 0x0800_0f00 },
    ],
    { version: "2.0" },
  );
  const r = await runCli(["--port", port, "ota", zip], 60_000);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /parts host_fw and table overlap: host_fw \(4096 bytes at 0x08000000\) ends at 0x08001000, past the start of table at 0x08000f00/,
  );
  assert.deepEqual([seen.erased, seen.bootloaderVisits()], [[], 0]);
  assert.equal(daemon.host.info.sys_info?.fw_version, "1.0");
  assert.equal(emu.mcu.firmwareVersion, "1.0");
});
