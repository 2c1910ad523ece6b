/**
 * Flash + verify through the STM32 ROM bootloader (AN3155) at 115200 baud on the paced emulator,
 * ccm's flasher beside Debian's stm32flash, both against the wire-time limit of reference
 * stm32-ota.md §4:
 *
 *   ccm         flashStm32 (src/fw/stm32/flasher.ts, the build under test) with verify, no lines:
 *               the emulated part already sits in its bootloader
 *   stm32flash  `stm32flash -m 8n1 -b 115200 -v -w image.bin PORT` (8N1: a pty cannot carry parity)
 *   floor       (BENCH_FLASH_FLOOR=1, information) the least a host can do: a blocking loop with no
 *               event loop, retries or checks, in stm32flash's order (bench/flash-floor.ts)
 *
 * Each flash runs on a fresh emulator (bench/flash-emulator.ts, its own process: a paced Stm32Mcu in
 * its bootloader behind a HostSimulator on a socat pty pair), then the emulator's flash is checked to
 * hold the image (else the bench fails). Images are seeded pseudo-random bytes (no blank blocks).
 *
 * The limit is what the emulator charges for the bytes that must cross and the work the part must
 * do, with its own constants (src/sim/stm32/chips.ts): 11 bit times per byte each way, no overlap,
 *
 *   limit = (2 + E + Σ_blocks [(n_i + 12) + (⌈n_i⌉₄ + 12)]) · 11 / baud + Σ_blocks t_prog(⌈n_i⌉₄) + t_erase
 *
 * (0x7F and its ACK; E the erase command's bytes; per 256-byte block a Write Memory of n+9 bytes and
 * 3 ACKs, and a Read Memory of 9 bytes and 3 ACKs + n bytes back), t_prog(n) = ⌈n / unit⌉ · t_unit,
 * t_erase = the erase time of the pages the image covers, or the mass erase time when it covers the
 * whole flash (whichever is cheaper). No turnaround latency; Get, Get Version and Get ID (~40 bytes,
 * ~4 ms) are left out.
 *
 * Environment: BENCH_FLASH_SIZES (KiB, default "64,512"; ≤ 128 on 0x410 F1 MD, ≤ 512 on 0x414 F1 HD,
 * else 0x413 F4), BENCH_FLASH_RUNS (1 flash per contender and size), BENCH_FLASH_FLOOR=1 (adds the
 * floor contender), BENCH_FLASH_PAD=K (information: the last K KiB of each image 0xFF, as firmware
 * padding is; the limit stays that of writing every block, and no target is judged), BENCH_CCM=tsx.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { BUILD_ENV, ensureBuild, flavour, importCcm } from "./ccm-build.js";
import type { EmulatorReport } from "./flash-emulator.js";
import { flashFloor } from "./flash-floor.js";
import { BAUD, checkAndStop, runStm32flash, startEmulator, stopChild } from "./flash-processes.js";
import { envNumber, isEntryPoint, markdownTable, median, report, type BenchResult } from "./util.js";

type FlasherModule = typeof import("../src/fw/stm32/flasher.js");
type ChipsModule = typeof import("../src/sim/stm32/chips.js");
type ChipProfile = import("../src/sim/stm32/chips.js").ChipProfile;

const TARGET_LIMIT_RATIO = 1.1;
const BLOCK = 256;

/** One image size on one emulated part, and what its limit is made of (ms). */
interface Case {
  kib: number;
  /** KiB of 0xFF at the end of the image (BENCH_FLASH_PAD); 0 for the benchmark proper. */
  pad: number;
  /** "64 KiB on 0x410", ", last 16 KiB 0xFF" when padded. */
  label: string;
  size: number;
  chip: ChipProfile;
  image: Buffer;
  file: string;
  wireMs: number;
  progMs: number;
  eraseMs: number;
  eraseHow: string;
  limitMs: number;
}

/** One flash by one contender. */
interface Sample {
  ms: number;
  emu: EmulatorReport;
  /** CPU time of this process during the flash (ccm only), ms. */
  cpuMs?: number;
}

const byteMs = (baud: number): number => 11_000 / baud;

/** Seeded pseudo-random bytes (xorshift32): no 256-byte block comes out blank. */
export function randomImage(size: number, seed: number): Buffer {
  const image = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    image[i] = x & 0xff;
  }
  return image;
}

/** t_prog of the image as the emulator charges it: every block padded to 4, ⌈n / unit⌉ · t_unit. */
function progMsOf(chip: ChipProfile, size: number): number {
  let ms = 0;
  for (let off = 0; off < size; off += BLOCK) {
    const padded = (Math.min(BLOCK, size - off) + 3) & ~3;
    ms += (Math.ceil(padded / chip.progUnit) * chip.progUs) / 1000;
  }
  return ms;
}

/** The wire/program/erase limit of flashing and verifying `size` bytes at the flash base (see top). */
export function limitFor(
  chip: ChipProfile,
  size: number,
  baud: number,
): Omit<Case, "kib" | "pad" | "label" | "chip" | "image" | "file"> {
  let chars = 2; // 0x7F, ACK
  for (let off = 0; off < size; off += BLOCK) {
    const n = Math.min(BLOCK, size - off);
    chars += ((n + 3) & ~3) + 12 + (n + 12);
  }
  const extended = chip.commands.includes(0x44);
  let covered = 0;
  let pagesMs = 0;
  for (let at = 0; covered < chip.pages.length && at < size; covered++) {
    at += chip.pages[covered]!;
    pagesMs += chip.eraseMs(chip.pages[covered]!);
  }
  // Erase (0x43): cmd 2 + ACK, N, N+1 page bytes, checksum, ACK; at most 255 pages per command.
  // Extended Erase (0x44): cmd 2 + ACK, N (2), 2 per page, checksum, ACK.
  const commands = Math.ceil(covered / (extended ? 65_520 : 255));
  const pageChars = extended ? commands * 7 + 2 * covered : commands * 6 + covered;
  const options = [{ how: `${covered} pages`, chars: pageChars, ms: pagesMs }];
  if (covered === chip.pages.length)
    options.push({ how: "mass erase", chars: extended ? 7 : 6, ms: chip.massEraseMs });
  const erase = options.reduce((a, b) =>
    a.chars * byteMs(baud) + a.ms <= b.chars * byteMs(baud) + b.ms ? a : b,
  );
  const wireMs = (chars + erase.chars) * byteMs(baud);
  const progMs = progMsOf(chip, size);
  return {
    size,
    wireMs,
    progMs,
    eraseMs: erase.ms,
    eraseHow: erase.how,
    limitMs: wireMs + progMs + erase.ms,
  };
}

type Contender = "ccm" | "stm32flash" | "floor";

/** One flash by `who` on a fresh emulator; fails when the flash does not hold the image afterwards. */
async function flashOnce(
  who: Contender,
  c: Case,
  flasher: FlasherModule,
  env: NodeJS.ProcessEnv,
): Promise<Sample> {
  const timeoutMs = Math.ceil(1.5 * c.limitMs + 30_000);
  const emu = await startEmulator(c.chip.pid, env);
  let ms: number;
  let cpuMs: number | undefined;
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (who === "ccm") {
      let timer: NodeJS.Timeout | undefined;
      const signal = AbortSignal.timeout(timeoutMs);
      await Promise.race([
        flasher.flashStm32({ port: emu.port, image: c.image, baud: BAUD, verify: true, signal }),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => {
            reject(new Error(`ccm did not finish within ${timeoutMs + 5000} ms`));
          }, timeoutMs + 5000);
        }),
      ]).finally(() => {
        clearTimeout(timer);
      });
    } else if (who === "floor") {
      flashFloor(emu.port, c.image, c.chip, BAUD);
    } else {
      await runStm32flash(emu.port, c.file, timeoutMs);
    }
    ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    if (who === "ccm") cpuMs = (cpu.user + cpu.system) / 1000;
  } catch (e) {
    await stopChild(emu.child);
    throw e;
  }
  const emuReport = await checkAndStop(emu.child, c.file);
  if (!emuReport.holdsImage || !emuReport.restBlank) {
    const what = emuReport.holdsImage
      ? "flash past the image is not blank"
      : `flash differs from the image at offset 0x${(emuReport.firstDiff ?? 0).toString(16)}`;
    throw new Error(`${who} flashed ${c.label} wrong: ${what}`);
  }
  return { ms, emu: emuReport, ...(cpuMs === undefined ? {} : { cpuMs }) };
}

const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const rate = (c: Case, ms: number): string => `${(c.size / 1024 / (ms / 1000)).toFixed(2)} KiB/s`;

/** The floor of what one contender actually sent: its bytes on the wire + program + its erases. */
function ownFloorMs(c: Case, e: EmulatorReport): number {
  return (e.bytesIn + e.bytesOut) * byteMs(BAUD) + c.progMs + e.eraseMs;
}

export async function run(): Promise<BenchResult> {
  const sizes = (process.env["BENCH_FLASH_SIZES"] ?? "64,512").split(",").map((x) => {
    const kib = Number(x.trim());
    if (!Number.isInteger(kib) || kib <= 0 || kib > 1024)
      throw new Error(`BENCH_FLASH_SIZES: bad size ${JSON.stringify(x)} (KiB, 1..1024)`);
    return kib;
  });
  const runs = Math.round(envNumber("BENCH_FLASH_RUNS", 1));
  const pad = Math.round(envNumber("BENCH_FLASH_PAD", 0));
  const contenders: Contender[] = ["ccm", "stm32flash"];
  if (process.env["BENCH_FLASH_FLOOR"] === "1") contenders.push("floor");
  const build = await ensureBuild();
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (build.root !== undefined) env[BUILD_ENV] = build.root;
  const dir = await mkdtemp(join(tmpdir(), "ccm-bench-flash-"));
  try {
    const flasher = await importCcm<FlasherModule>("fw/stm32/flasher", build.root);
    const { chipByPid } = await importCcm<ChipsModule>("sim/stm32/chips", build.root);
    const cases: Case[] = [];
    for (const kib of sizes) {
      const chip = chipByPid(kib <= 128 ? 0x410 : kib <= 512 ? 0x414 : 0x413);
      const image = randomImage(kib * 1024, 0x5eed + kib);
      if (pad > 0) image.fill(0xff, Math.max(0, (kib - pad) * 1024));
      const file = join(dir, `image-${kib}k.bin`);
      await writeFile(file, image);
      const label = `${kib} KiB on 0x${chip.pid.toString(16)}${pad > 0 ? `, last ${Math.min(pad, kib)} KiB 0xFF` : ""}`;
      cases.push({ kib, pad, label, chip, image, file, ...limitFor(chip, image.length, BAUD) });
    }
    const load0 = loadavg()[0]!;
    console.log(
      `flash: ccm = ${flavour() === "dist" ? "src/ emitted by tsc (as shipped)" : "src/ via tsx"}; ` +
        `${sizes.join(" and ")} KiB, flash + verify at ${BAUD} baud on the paced emulator, ` +
        `${runs} run(s) per contender, fresh emulator each; load average ${load0.toFixed(2)}`,
    );
    const samples = new Map<Case, Record<Contender, Sample[]>>();
    for (let r = 0; r < runs; r++) {
      for (const c of cases) {
        const got = samples.get(c) ?? { ccm: [], stm32flash: [], floor: [] };
        samples.set(c, got);
        // Rotate who goes first, so that a drift in the machine's load hits all alike.
        const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]!);
        for (const who of order) {
          const sample = await flashOnce(who, c, flasher, env);
          got[who].push(sample);
          console.log(
            `flash: ${c.label}, run ${r + 1}: ${who} ${s(sample.ms)} ` +
              `(limit ${s(c.limitMs)}, ${(sample.ms / c.limitMs).toFixed(3)}×)`,
          );
        }
      }
    }
    const load1 = loadavg()[0]!;
    const busy = Math.max(load0, load1) >= cpus().length;

    const rows: BenchResult["rows"] = [];
    const notes: string[] = [];
    const table: string[][] = [];
    for (const c of cases) {
      const got = samples.get(c)!;
      const ccm = median(got.ccm.map((x) => x.ms));
      const ref = median(got.stm32flash.map((x) => x.ms));
      const where = c.label;
      // A padded image is information (what leaving blank blocks out is worth), not the benchmark.
      const judged = c.pad === 0;
      const limitText = `${s(c.limitMs)} (wire ${s(c.wireMs)} + program ${s(c.progMs)} + erase ${s(c.eraseMs)}, ${c.eraseHow})`;
      rows.push(
        { metric: `${where}: wire-time limit`, value: limitText },
        { metric: `${where}: ccm flash + verify`, value: `${s(ccm)}, ${rate(c, ccm)}` },
        { metric: `${where}: stm32flash -v`, value: `${s(ref)}, ${rate(c, ref)}` },
        {
          metric: `${where}: ccm / limit`,
          value: (ccm / c.limitMs).toFixed(3),
          ...(judged
            ? {
                target: `≤ ${TARGET_LIMIT_RATIO.toFixed(2)}`,
                met: ccm / c.limitMs <= TARGET_LIMIT_RATIO,
                unstable: busy,
              }
            : {}),
        },
        {
          metric: `${where}: stm32flash / ccm`,
          value: `${(ref / ccm).toFixed(3)}×`,
          ...(judged ? { target: "> 1", met: ref / ccm > 1, unstable: busy } : {}),
        },
      );
      if (got.floor.length > 0) {
        const floor = median(got.floor.map((x) => x.ms));
        rows.push(
          {
            metric: `${where}: floor (blocking loop, bench/flash-floor.ts)`,
            value: `${s(floor)}, ${rate(c, floor)}`,
          },
          { metric: `${where}: stm32flash / floor`, value: `${(ref / floor).toFixed(3)}×` },
        );
      }
      for (const who of contenders) {
        const last = got[who].at(-1)!;
        const e = last.emu;
        const over = last.ms - ownFloorMs(c, e);
        table.push([
          where,
          who,
          got[who].map((x) => s(x.ms)).join(", "),
          `${e.bytesIn.toLocaleString("en-US")} / ${e.bytesOut.toLocaleString("en-US")}`,
          String(e.commands),
          e.massErases > 0 ? `mass ×${e.massErases}` : `${e.pagesErased} pages`,
          s(ownFloorMs(c, e)),
          `${s(over)} (${(over / (3 * e.commands)).toFixed(2)} ms)`,
          last.cpuMs === undefined ? "" : s(last.cpuMs),
        ]);
      }
    }
    console.log(
      `\n${markdownTable(
        [
          "case",
          "contender",
          "time per run",
          "bytes host→device / device→host",
          "commands",
          "erase",
          "floor of what it sent",
          "over that floor (per ~turnaround)",
          "CPU (this process)",
        ],
        table,
      )}`,
    );
    console.log(
      "\n(the last run of each; ~3 turnarounds per command; its floor = its bytes × 11 bits / baud + program + its erases as the emulator charges them)",
    );
    if (busy)
      notes.push(
        `flash: UNSTABLE RUN — load average reached ${Math.max(load0, load1).toFixed(2)} on ${cpus().length} cores: turnarounds waited for a CPU; rerun on a quiet machine`,
      );
    notes.push(
      `flash: ${runs} run(s) per contender and size, fresh paced emulator (own process) each; load average ${load0.toFixed(2)} → ${load1.toFixed(2)}; ` +
        table
          .map((row) => `${row[0]} ${row[1]}: ${row[3]} bytes, ${row[4]} commands, ${row[7]} over its floor`)
          .join("; "),
    );
    return { name: "flash", rows, notes };
  } finally {
    await rm(dir, { recursive: true, force: true });
    await build.cleanup();
  }
}

if (isEntryPoint(import.meta.url)) {
  await report(await run());
}
