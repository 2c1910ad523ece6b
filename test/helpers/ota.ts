/**
 * Rigs for host-OTA scenario tests: a CCM whose host is an emulated STM32 (application and ROM
 * bootloader on one socat pty, RST/BOOT0 as `sim` lines), host bundles made as `ccm
 * create-fw-bundle` makes them, and a file server over HTTP or HTTPS.
 */
import { readFile, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type RequestListener } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { createBundle } from "../../src/fw/bundle.js";
import { connectRpc } from "../../src/channels/client/connect.js";
import { otaUpdate, type OtaOutcome } from "../../src/cli/commands/ota.js";
import { makeFirmwareImage } from "../../src/sim/stm32/image.js";
import { startDaemon, until } from "./daemon.js";
import { tempDir } from "./remote.js";
import { startEmulator, type Emulator } from "./stm32.js";

export interface OtaRig {
  emu: Emulator;
  daemon: Daemon;
  /** A temp dir for bundles. */
  dir: string;
  /** `http://127.0.0.1:PORT/rpc`. */
  port: string;
  /** A host bundle of `version` (a 6000-byte image unless `size`), its path. */
  bundle: (version: string, o?: BundleOptions) => Promise<string>;
}

export interface BundleOptions {
  platform?: string;
  /** An image whose vector table does not boot. */
  broken?: boolean;
  size?: number;
  addr?: number;
}

/** A host bundle in `dir`: `fw-VERSION.zip` with one STM32 part, as mos create-fw-bundle makes it. */
export async function hostBundle(dir: string, version: string, o: BundleOptions = {}): Promise<string> {
  const bin = join(dir, `fw-${version}.bin`);
  await writeFile(
    bin,
    makeFirmwareImage({
      version,
      size: o.size ?? 6000,
      seed: version.length + 7,
      ...(o.addr === undefined ? {} : { address: o.addr }),
      ...(o.broken === true ? { stackPointer: 0xffff_ffff } : {}),
    }),
  );
  const zip = join(dir, `fw-${version}.zip`);
  await writeFile(
    zip,
    createBundle({
      name: "fw",
      platform: o.platform ?? "ccm_host",
      version,
      parts: [{ name: "host_fw", type: "STM32", src: bin, addr: o.addr ?? 0x0800_0000 }],
    }),
  );
  return zip;
}

/** A bundle of STM32 parts, each part's bytes written to `<name>.bin` in `dir`; returns the zip's path. */
export async function stm32Bundle(
  dir: string,
  file: string,
  parts: readonly { name: string; data: Uint8Array; addr: number }[],
  o: { platform?: string; version?: string } = {},
): Promise<string> {
  for (const p of parts) await writeFile(join(dir, `${p.name}.bin`), p.data);
  const zip = join(dir, file);
  await writeFile(
    zip,
    createBundle({
      name: "fw",
      platform: o.platform ?? "ccm_host",
      ...(o.version === undefined ? {} : { version: o.version }),
      parts: parts.map((p) => ({
        name: p.name,
        type: "STM32",
        src: join(dir, `${p.name}.bin`),
        addr: p.addr,
      })),
    }),
  );
  return zip;
}

/**
 * An emulated STM32 running 1.0 (paced like a real 115200-baud bootloader with `pacing`) and a CCM
 * on its UART whose host runs 1.0; `more` overrides config sections.
 */
export async function otaRig(
  t: TestContext,
  o: { pacing?: boolean; more?: Record<string, unknown>; dataDir?: string } = {},
): Promise<OtaRig> {
  const emu = await startEmulator(t, {
    chip: 0x410,
    initialImage: makeFirmwareImage({ version: "1.0", size: 4096 }),
    ...(o.pacing === true ? { pacing: true } : {}),
  });
  const daemon = await startDaemon(
    t,
    emu.port,
    { lines: emu.linesSpec, confirm_s: 10 },
    o.more ?? {},
    o.dataDir,
  );
  await until(() => daemon.host.info.sys_info?.fw_version === "1.0", "the host runs 1.0", 10_000);
  const dir = await tempDir(t);
  return {
    emu,
    daemon,
    dir,
    port: `${daemon.httpUrl ?? ""}/rpc`,
    bundle: (version, b) => hostBundle(dir, version, b),
  };
}

/** Serves files by path (`/fw.zip` → the file at `files["/fw.zip"]`) over HTTP, or HTTPS with `tls`. */
export async function serveFiles(
  t: TestContext,
  files: Record<string, string>,
  tls?: { cert: string; key: string },
): Promise<string> {
  const handler: RequestListener = (req, res) => {
    const file = files[req.url ?? ""];
    if (file === undefined) {
      res.writeHead(404).end();
      return;
    }
    const body = readFileSync(file);
    res.writeHead(200, { "Content-Length": body.length }).end(body);
  };
  const server =
    tls === undefined
      ? createHttpServer(handler)
      : createHttpsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  );
  return `${tls === undefined ? "http" : "https"}://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * What `ccm --port PORT ota ZIP` does, run in this process (for the steps that set a scene: a
 * spawned CLI costs seconds on a loaded machine); resolves with the final OTA.Status.
 */
export async function sendBundle(port: string, zip: string, commitTimeoutS?: number): Promise<OtaOutcome> {
  const client = await connectRpc(port, { timeoutMs: 10_000, baudRate: 115200 });
  try {
    return await otaUpdate(client, await readFile(zip), {
      chunk: 512,
      timeoutS: 120,
      log: () => undefined,
      ...(commitTimeoutS === undefined ? {} : { commitTimeoutS }),
    });
  } finally {
    await client.close();
  }
}

/** Calls a method of `daemon` as a local caller would. */
export function callOn(daemon: Daemon, method: string, params?: unknown): Promise<unknown> {
  return Promise.resolve(
    daemon.registry.get(method)!.handler(params, { channel: "test", frame: { method } }),
  );
}
