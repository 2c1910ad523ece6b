/** Starts a real Daemon for a test, with a temp data dir and short timeouts, and stops it after. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import { Daemon } from "../../src/daemon/daemon.js";
import { createLogger, type Logger } from "../../src/log/logger.js";
import { HostSimulator, type HostSimulatorOptions } from "../../src/sim/host-simulator.js";

/** A Daemon on `hostPort`, with host settings overridden by `host`; stopped after the test. */
export async function startDaemon(
  t: TestContext,
  hostPort: string,
  host: Record<string, unknown> = {},
  more: Record<string, unknown> = {},
  /** A data dir the test owns (kept after the daemon stops); default a fresh temp dir. */
  ownDataDir?: string,
  /** Where its log goes; default nowhere. */
  logger?: Logger,
): Promise<Daemon> {
  const dataDir = ownDataDir ?? (await mkdtemp(join(tmpdir(), "ccm-data-")));
  const config = loadConfig({
    overrides: {
      device: { id: "ccm_test" },
      host: { port: hostPort, probe_ms: 500, ping_ms: 0, ...host },
      ...more,
      // Tests run in parallel: each daemon's HTTP server takes a free port unless a test names one.
      rpc: {
        ...(more.rpc as object | undefined),
        http: { listen: "127.0.0.1:0", ...(more.rpc as { http?: object } | undefined)?.http },
      },
    },
  });
  const daemon = new Daemon({ config, dataDir, ...(logger === undefined ? {} : { logger }) });
  await daemon.start();
  t.after(async () => {
    await daemon.stop();
    if (ownDataDir === undefined) await rm(dataDir, { recursive: true, force: true });
  });
  return daemon;
}

/** A HostSimulator on `port`, started; stopped after the test. */
export async function startSim(t: TestContext, options: HostSimulatorOptions): Promise<HostSimulator> {
  const sim = new HostSimulator(options);
  await sim.start();
  t.after(() => sim.stop());
  return sim;
}

/** Resolves when `check()` is (or resolves to) true, polling every 10 ms; rejects with `what` after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A logger that keeps every line (info and up), for tests that read what the CCM logged. */
export function logCollector(): { logger: Logger; text: () => string } {
  let text = "";
  return { logger: createLogger(2, (line) => (text += line)), text: () => text };
}
