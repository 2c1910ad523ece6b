/**
 * Test certificates made with the openssl command line: a CA, a server certificate for localhost /
 * 127.0.0.1, a client certificate from the same CA, and a client certificate from a rogue CA.
 */
import { chmod, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { run } from "./remote.js";

export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  rogueCa: string;
  rogueCert: string;
  rogueKey: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const r = await run("openssl", args, "", 30_000);
  if (r.code !== 0) throw new Error(`openssl ${args.join(" ")} failed in ${dir}: ${r.stderr}`);
}

async function makeCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  await openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
  ]);
  return { cert, key };
}

async function issue(
  dir: string,
  ca: { cert: string; key: string },
  name: string,
  ext: string,
): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await openssl(dir, [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    `/CN=${name}`,
  ]);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-CAcreateserial",
    "-out",
    cert,
    "-days",
    "2",
    "-extfile",
    extFile,
  ]);
  return { cert, key };
}

/** Makes the certificates in a temp dir removed after the test. */
export async function testPki(t: TestContext): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), "ccm-pki-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await makeCa(dir, "ca");
  const rogue = await makeCa(dir, "rogue-ca");
  const server = await issue(
    dir,
    ca,
    "server",
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
  );
  const client = await issue(dir, ca, "client", "extendedKeyUsage=clientAuth\n");
  const rogueClient = await issue(dir, rogue, "rogue-client", "extendedKeyUsage=clientAuth\n");
  // Mosquitto started as root drops to its own user: it must be able to read the files.
  await chmod(dir, 0o755);
  for (const f of await readdir(dir)) await chmod(join(dir, f), 0o644);
  return {
    dir,
    ca: ca.cert,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    rogueCa: rogue.cert,
    rogueCert: rogueClient.cert,
    rogueKey: rogueClient.key,
  };
}
