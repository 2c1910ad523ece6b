/**
 * Real MQTT brokers for tests: the embedded one (aedes, in-process) and Mosquitto (a child
 * process; a missing `mosquitto` binary fails the test). Each is stopped after the test.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { startEmbeddedBroker } from "../../src/cloud/embedded-broker.js";
import { freePort } from "./socat.js";

export interface TestBroker {
  port: number;
  /** `127.0.0.1:PORT`, as `mqtt.server` takes it. */
  server: string;
  /** Stops the broker (tests of a vanishing broker); also done after the test. */
  stop(): Promise<void>;
  /** Ends it without a chance to save or say goodbye (Mosquitto: SIGKILL; embedded: its sockets destroyed). */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
}

/** Mosquitto, which can also be frozen: a broker that stops answering but keeps its connections. */
export interface MosquittoBroker extends TestBroker {
  /** SIGSTOP: the broker answers nothing (no CONNACK, no PINGRESP) while TCP stays up. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
}

export type BrokerKind = "embedded" | "mosquitto";

/** Starts a broker of `kind` on 127.0.0.1. */
export function startBroker(t: TestContext, kind: BrokerKind): Promise<TestBroker> {
  return kind === "embedded" ? startAedes(t) : startMosquitto(t);
}

/** The embedded broker on a free port. */
export async function startAedes(t: TestContext): Promise<TestBroker> {
  let broker = await startEmbeddedBroker();
  const port = broker.port;
  let running = true;
  const b: TestBroker = {
    port,
    server: `127.0.0.1:${port}`,
    async stop() {
      if (!running) return;
      running = false;
      await broker.close();
    },
    kill: () => b.stop(),
    async restart() {
      await b.stop();
      broker = await startEmbeddedBroker({ port });
      running = true;
    },
  };
  t.after(() => b.stop());
  return b;
}

/**
 * Mosquitto on a free port, anonymous access on 127.0.0.1 only. With `persistence`, sessions and
 * their queued messages survive a restart (saved on SIGTERM), as on a production broker.
 */
export async function startMosquitto(
  t: TestContext,
  o: {
    persistence?: boolean;
    tls?: { ca: string; cert: string; key: string; requireClientCert: boolean };
  } = {},
): Promise<MosquittoBroker> {
  const dir = await mkdtemp(join(tmpdir(), "ccm-mosquitto-"));
  const port = await freePort();
  const conf = join(dir, "mosquitto.conf");
  const persistence =
    o.persistence === true ? `persistence true\npersistence_location ${dir}/\n` : "persistence false\n";
  const tls =
    o.tls === undefined
      ? ""
      : `cafile ${o.tls.ca}\ncertfile ${o.tls.cert}\nkeyfile ${o.tls.key}\nrequire_certificate ${String(o.tls.requireClientCert)}\n`;
  await writeFile(conf, `listener ${port} 127.0.0.1\n${tls}allow_anonymous true\n${persistence}`);
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const c = spawn("mosquitto", ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    c.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const failed = new Promise<never>((_, reject) => {
      c.once("error", (e) => {
        reject(new Error(`cannot run mosquitto (apt-get install mosquitto): ${e.message}`));
      });
      c.once("exit", (code) => {
        reject(new Error(`mosquitto exited with ${String(code)}: ${stderr}`));
      });
    });
    failed.catch(() => undefined);
    child = c;
    await Promise.race([waitConnectable(port), failed]);
  };
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill(signal);
    if (signal !== "SIGKILL") c.kill("SIGCONT");
    await exited;
  };
  const b: MosquittoBroker = {
    port,
    server: `127.0.0.1:${port}`,
    stop: () => end("SIGTERM"),
    kill: () => end("SIGKILL"),
    pause() {
      child?.kill("SIGSTOP");
    },
    resume() {
      child?.kill("SIGCONT");
    },
    async restart() {
      await b.stop();
      await start();
    },
  };
  await start();
  t.after(async () => {
    await b.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return b;
}

async function waitConnectable(port: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => {
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
