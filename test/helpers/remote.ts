/**
 * Rigs for remote-RPC scenario tests: a daemon with a simulated host on a real pty pair, and the
 * external clients people use (curl, htdigest, mosquitto_pub / mosquitto_sub) run as child processes.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import type { HostSimulator } from "../../src/sim/host-simulator.js";
import { startDaemon, startSim, until } from "./daemon.js";
import { ptyPair } from "./socat.js";

export interface RemoteRig {
  daemon: Daemon;
  sim: HostSimulator;
  /** `http://127.0.0.1:PORT`. */
  url: string;
}

/** A daemon (config overrides `more`) whose host is ready, with its HTTP server on a free port. */
export async function remoteRig(
  t: TestContext,
  more: Record<string, unknown> = {},
  host: Record<string, unknown> = {},
): Promise<RemoteRig> {
  const pty = await ptyPair(t);
  const sim = await startSim(t, { port: pty.b });
  const daemon = await startDaemon(t, pty.a, host, more);
  await until(() => daemon.host.state === "ready", "host ready");
  return { daemon, sim, url: daemon.httpUrl ?? "" };
}

/** A temp dir removed after the test. */
export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "ccm-remote-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion with `input` on stdin; a missing program is an error, not a skip. */
export function run(cmd: string, args: string[], input = "", timeoutMs = 15_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
      if (error !== null && typeof error.code === "string") {
        reject(new Error(`cannot run ${cmd}: ${error.message}`));
        return;
      }
      resolve({ code, stdout, stderr });
    });
    // A program that does not read its stdin (mosquitto_pub -m) may exit first: EPIPE is no error.
    child.stdin?.on("error", () => {});
    child.stdin?.end(input);
  });
}

/** An htdigest file made by Apache's `htdigest` tool (apache2-utils): `users` maps name → password. */
export async function htdigestFile(
  t: TestContext,
  realm: string,
  users: Record<string, string>,
): Promise<string> {
  const file = join(await tempDir(t), "rpc_auth.txt");
  let first = true;
  for (const [user, pass] of Object.entries(users)) {
    // setsid: no controlling terminal, so htdigest reads the password twice from stdin.
    const r = await run(
      "setsid",
      ["htdigest", ...(first ? ["-c"] : []), file, realm, user],
      `${pass}\n${pass}\n`,
    );
    if (r.code !== 0) throw new Error(`htdigest failed: ${r.stderr}`);
    first = false;
  }
  return file;
}

/** Writes an ACL file. */
export async function aclFile(t: TestContext, acl: unknown): Promise<string> {
  const file = join(await tempDir(t), "rpc_acl.json");
  await writeFile(file, JSON.stringify(acl));
  return file;
}

/** curl with `args`; returns status, headers (lower-cased) and body. */
export async function curl(
  args: string[],
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const r = await run("curl", ["-sS", "-D", "-", "--max-time", "10", ...args]);
  if (r.code !== 0) throw new Error(`curl failed (${String(r.code)}): ${r.stderr}`);
  // With --digest curl prints the headers of both exchanges: keep the last.
  const blocks = r.stdout.split(/\r\n\r\n/);
  let i = 0;
  while (i + 1 < blocks.length && /^HTTP\/[\d.]+ \d+/.test(blocks[i + 1] ?? "")) i++;
  const head = blocks[i] ?? "";
  const body = blocks.slice(i + 1).join("\r\n\r\n");
  const [statusLine, ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const k = l.indexOf(":");
    if (k > 0) headers[l.slice(0, k).toLowerCase()] = l.slice(k + 1).trim();
  }
  return { status: Number(/ (\d{3})/.exec(statusLine ?? "")?.[1]), headers, body };
}

/** Starts `mosquitto_sub` on `topic`, collecting messages; stopped after the test. */
export async function mosquittoSub(
  t: TestContext,
  port: number,
  topic: string,
): Promise<{ messages: string[] }> {
  // mosquitto_sub says nothing once subscribed: it also listens on a probe topic, published to until
  // a probe comes back.
  const probe = `ccm-probe/${Math.random().toString(36).slice(2)}`;
  const args = ["-h", "127.0.0.1", "-p", String(port), "-t", topic, "-t", probe, "-q", "1", "-v"];
  const child = spawn("mosquitto_sub", args, { stdio: ["ignore", "pipe", "pipe"] });
  const out = { messages: [] as string[] };
  let buf = "";
  let ready = false;
  child.stdout.on("data", (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      out.messages.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  child.stderr.on("data", () => undefined);
  const failed = new Promise<never>((_, reject) => child.once("error", reject));
  t.after(() => {
    child.kill();
  });
  const probing = (async () => {
    while (!ready) {
      await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port), "-t", probe, "-m", "probe"]);
      await until(
        () => out.messages.some((m) => m.startsWith(probe)),
        "mosquitto_sub to subscribe",
        300,
      ).then(
        () => (ready = true),
        () => undefined,
      );
    }
  })();
  await Promise.race([probing, failed]);
  await new Promise((r) => setTimeout(r, 50));
  out.messages.splice(0, out.messages.length, ...out.messages.filter((m) => !m.startsWith(probe)));
  return {
    get messages() {
      return out.messages.filter((m) => !m.startsWith(probe));
    },
  };
}
