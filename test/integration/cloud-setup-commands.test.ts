import assert from "node:assert/strict";
import { randomBytes, X509Certificate } from "node:crypto";
import { readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { CcmRunner } from "../../src/daemon/runner.js";
import { AzureIotHubSim } from "../../src/sim/azure-iot-hub.js";
import { startMosquitto } from "../helpers/brokers.js";
import { runCli } from "../helpers/cli.js";
import { until } from "../helpers/daemon.js";
import { tempDir } from "../helpers/remote.js";
import { testPki } from "../helpers/tls.js";

/** A CCM (no host) reachable over HTTP, restarting in-process on Config.Save reboot. */
async function ccm(t: TestContext, overrides: Record<string, unknown> = {}) {
  const dataDir = await tempDir(t);
  const runner = new CcmRunner({
    dataDir,
    overrides: {
      device: { id: "ccm_setup" },
      host: { ping_ms: 0 },
      rpc: { http: { listen: "127.0.0.1:0" } },
      ...overrides,
    },
  });
  await runner.start();
  t.after(() => runner.stop());
  const port = `${runner.daemon.httpUrl ?? ""}/rpc`;
  return { runner, dataDir, port };
}

test("ccm put, ls, get and rm move files through FS.* in chunks, and a name outside the file folder is refused", async (t) => {
  const { port, dataDir } = await ccm(t);
  const dir = await tempDir(t);
  const data = randomBytes(1500);
  await writeFile(join(dir, "blob.bin"), data);
  const put = await runCli(["--port", port, "put", join(dir, "blob.bin"), "certs/blob.bin"]);
  assert.equal(put.code, 0, put.stderr);
  assert.deepEqual(await readFile(join(dataDir, "fs", "certs", "blob.bin")), data);
  const ls = await runCli(["--port", port, "ls", "-l", "certs"]);
  assert.equal(ls.stdout, "blob.bin 1500\n");
  const get = await runCli(["--port", port, "get", "certs/blob.bin", "-o", join(dir, "back.bin")]);
  assert.equal(get.code, 0, get.stderr);
  assert.deepEqual(await readFile(join(dir, "back.bin")), data);
  const escape = await runCli(["--port", port, "put", join(dir, "blob.bin"), "../../etc/evil"]);
  assert.equal(escape.code, 1);
  assert.match(escape.stderr, /illegal file name/);
  const rm = await runCli(["--port", port, "rm", "certs/blob.bin"]);
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal((await runCli(["--port", port, "ls", "certs"])).stdout, "");
});

test("ccm aws-iot-setup uploads the thing's certificate and key and the CCM comes up as an AWS shadow client over mutual TLS", async (t) => {
  const pki = await testPki(t);
  const broker = await startMosquitto(t, {
    tls: { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey, requireClientCert: true },
  });
  const { runner, dataDir, port } = await ccm(t);
  const r = await runCli([
    "--port",
    port,
    "aws-iot-setup",
    "--endpoint",
    `localhost:${broker.port}`,
    "--cert",
    pki.clientCert,
    "--key",
    pki.clientKey,
    "--ca",
    pki.ca,
    "--thing",
    "lamp-7",
  ]);
  assert.equal(r.code, 0, r.stderr);
  await until(() => runner.restarts === 1, "the restart");
  await until(
    () => runner.daemon.mqtt?.connected === true,
    "connected with the uploaded certificate",
    10_000,
  );
  assert.equal(runner.daemon.shadow?.backend.kind, "aws");
  const key = await stat(join(dataDir, "fs", "aws-lamp-7.key.pem"));
  assert.equal(key.mode & 0o077, 0, "the private key is readable by its owner only");
  assert.equal(runner.daemon.config.aws.thing_name, "lamp-7");
});

test("ccm aws-iot-setup refuses a key file that is not PEM before touching the device", async (t) => {
  const { port, dataDir } = await ccm(t);
  const dir = await tempDir(t);
  await writeFile(join(dir, "key.der"), randomBytes(64));
  await writeFile(join(dir, "cert.pem"), "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n");
  const r = await runCli([
    "--port",
    port,
    "aws-iot-setup",
    "--endpoint",
    "x.iot.eu-west-1.amazonaws.com",
    "--cert",
    join(dir, "cert.pem"),
    "--key",
    join(dir, "key.der"),
  ]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /key\.der is not a PEM private key/);
  assert.deepEqual(await readdir(join(dataDir, "fs")), [], "nothing was uploaded");
});

test("ccm azure-iot-setup with a connection string connects the CCM to the hub; a bad string is refused by name", async (t) => {
  const pki = await testPki(t);
  const key = Buffer.from("azure-iot-setup's key, 32 bytes!").toString("base64");
  const hub = await AzureIotHubSim.start({
    hostName: "setup.azure-devices.net",
    tls: { key: await readFile(pki.serverKey), cert: await readFile(pki.serverCert) },
    devices: [
      {
        deviceId: "dev-9",
        primaryKey: key,
        x509Thumbprint: new X509Certificate(await readFile(pki.clientCert)).fingerprint,
      },
    ],
  });
  t.after(() => hub.close());
  // The test hub listens on 127.0.0.1, not at its name: mqtt.server points there.
  const { runner, port } = await ccm(t, { mqtt: { server: `127.0.0.1:${hub.port}`, ssl_ca: pki.ca } });
  const bad = await runCli([
    "--port",
    port,
    "azure-iot-setup",
    "--connection-string",
    "HostName=x;SharedAccessKey=k",
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /DeviceId is missing/);
  const r = await runCli([
    "--port",
    port,
    "azure-iot-setup",
    "--connection-string",
    `HostName=setup.azure-devices.net;DeviceId=dev-9;SharedAccessKey=${key}`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  await until(() => hub.online("dev-9"), "the CCM online at the hub", 10_000);
  assert.equal(runner.daemon.shadow?.backend.kind, "azure");
});
