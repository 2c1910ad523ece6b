/**
 * Test helpers for real-I/O tests: a socat pty pair in a temp dir, removed after the test, and a free TCP port.
 */
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { startPtyPair, type PtyPair } from "../../src/transports/pty-pair.js";

export type { PtyPair };

/** Starts a socat pty pair in a fresh temp dir; with `t`, kills it and removes the dir after the test. Fails if socat is missing. */
export async function ptyPair(t?: TestContext): Promise<PtyPair> {
  const dir = await mkdtemp(join(tmpdir(), "ccm-pty-"));
  let pair: PtyPair;
  try {
    pair = await startPtyPair(join(dir, "a"), join(dir, "b"));
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  t?.after(async () => {
    await pair.kill();
    await rm(dir, { recursive: true, force: true });
  });
  return pair;
}
/** A TCP port on 127.0.0.1 that was free a moment ago (for "connection refused" tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => {
        if (port === 0) reject(new Error("could not read the listening port"));
        else resolve(port);
      });
    });
  });
}
