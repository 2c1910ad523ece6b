import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import mqtt from "mqtt";
import { spawnCli } from "../helpers/cli.js";
import { startMosquitto } from "../helpers/brokers.js";
import { startSim, until } from "../helpers/daemon.js";
import { remoteRig } from "../helpers/remote.js";
import { ptyPair } from "../helpers/socat.js";
import { testPki } from "../helpers/tls.js";

test("over mutual TLS the CCM publishes for its host; a broker certificate from another CA is refused", async (t) => {
  const pki = await testPki(t);
  const broker = await startMosquitto(t, {
    tls: { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey, requireClientCert: true },
  });
  const { sim, daemon } = await remoteRig(t, {
    mqtt: {
      enable: true,
      server: `localhost:${broker.port}`,
      ssl_ca: pki.ca,
      ssl_cert: pki.clientCert,
      ssl_key: pki.clientKey,
    },
  });
  await until(() => daemon.mqtt?.connected === true, "the CCM connected over TLS", 10_000);
  const sub = await mqtt.connectAsync(`mqtts://localhost:${broker.port}`, {
    ca: await readFile(pki.ca),
    cert: await readFile(pki.clientCert),
    key: await readFile(pki.clientKey),
  });
  t.after(() => sub.endAsync(true));
  const got: string[] = [];
  sub.on("message", (_topic, p) => got.push(p.toString()));
  await sub.subscribeAsync("ccm/tls", { qos: 1 });
  await sim.call("MQTT.Pub", { topic: "ccm/tls", message: "secret hello", qos: 1 }, 3000);
  await until(() => got.length === 1, "the message over TLS");
  assert.deepEqual(got, ["secret hello"]);

  const wrongCa = await remoteRig(t, {
    mqtt: {
      enable: true,
      server: `localhost:${broker.port}`,
      ssl_ca: pki.rogueCa,
      ssl_cert: pki.clientCert,
      ssl_key: pki.clientKey,
    },
  });
  await until(
    () => wrongCa.daemon.mqtt?.lastError !== "",
    "the CCM to refuse the broker's certificate",
    10_000,
  );
  assert.match(wrongCa.daemon.mqtt?.lastError ?? "", /certificate/i);
  assert.equal(wrongCa.daemon.mqtt?.connected, false);
});

test("mutual TLS: the broker takes a client certificate from its CA, and refuses one from another CA or none", async (t) => {
  const pki = await testPki(t);
  const broker = await startMosquitto(t, {
    tls: { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey, requireClientCert: true },
  });
  const base = { enable: true, server: `localhost:${broker.port}`, ssl_ca: pki.ca };
  const [right, rogue, none] = await Promise.all([
    remoteRig(t, { mqtt: { ...base, ssl_cert: pki.clientCert, ssl_key: pki.clientKey } }),
    remoteRig(t, { mqtt: { ...base, ssl_cert: pki.rogueCert, ssl_key: pki.rogueKey } }),
    remoteRig(t, { mqtt: base }),
  ]);
  await until(() => right.daemon.mqtt?.connected === true, "the right certificate connected", 10_000);
  await until(
    () => rogue.daemon.mqtt?.lastError !== "" && none.daemon.mqtt?.lastError !== "",
    "both refused handshakes",
    10_000,
  );
  // The broker's TLS alerts, as OpenSSL names them: 48 unknown_ca, 116 certificate_required (TLS 1.3).
  assert.match(rogue.daemon.mqtt?.lastError ?? "", /alert unknown ca/);
  assert.match(none.daemon.mqtt?.lastError ?? "", /alert certificate required/);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(rogue.daemon.mqtt?.connected, false);
  assert.equal(none.daemon.mqtt?.connected, false);
  assert.equal(right.daemon.mqtt?.connected, true);
  assert.equal(right.daemon.mqtt.lastError, "");
  const info = (await rogue.sim.call("Sys.GetInfo", undefined, 3000)) as { mqtt: { error?: string } };
  assert.match(info.mqtt.error ?? "", /alert unknown ca/, "Sys.GetInfo says why");
});

test("the last will says offline when the CCM dies, and the CCM says online when it connects", async (t) => {
  const broker = await startMosquitto(t);
  const watcher = await mqtt.connectAsync(`mqtt://${broker.server}`);
  t.after(() => watcher.endAsync(true));
  const status: string[] = [];
  watcher.on("message", (_t, p) => status.push(p.toString()));
  await watcher.subscribeAsync("ccm/status", { qos: 1 });
  const pty = await ptyPair(t);
  await startSim(t, { port: pty.b });
  const dataDir = await mkdtemp(join(tmpdir(), "ccm-will-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const ccm = spawnCli([
    "start",
    "--host-port",
    pty.a,
    "--data-dir",
    dataDir,
    "--http-listen",
    "127.0.0.1:0",
    "--set",
    "mqtt.enable=true",
    "--set",
    `mqtt.server=${broker.server}`,
    "--set",
    "mqtt.will_topic=ccm/status",
  ]);
  t.after(() => ccm.kill("SIGKILL"));
  await until(() => status.includes("online"), "online", 30_000);
  const gone = new Promise((r) => ccm.once("exit", r));
  ccm.kill("SIGKILL");
  await gone;
  await until(() => status.at(-1) === "offline", "the will: offline", 10_000);
});
