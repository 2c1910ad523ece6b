/**
 * `ccm aws-iot-setup` and `ccm azure-iot-setup`, as their mos namesakes end: the certificate and key
 * are uploaded to the CCM's file folder (FS.Put), the cloud's keys are set with Config.Set, saved,
 * and the CCM's components restart on them. Nothing here calls AWS's or Azure's APIs: the thing or
 * device, its certificate and policy are made in their consoles (there is no internet here).
 */
import type { Command } from "@commander-js/extra-typings";
import { readFile } from "node:fs/promises";
import { parseConnectionString } from "../../cloud/azure-auth.js";
import { errorMessage } from "../../errors.js";
import { CliError, EXIT } from "../output.js";
import { globalsOf } from "../options.js";
import { withClient } from "../session.js";
import { configSet } from "./config.js";
import { putFile } from "./fs.js";

async function local(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    throw new CliError(`cannot read the ${what} ${file}: ${errorMessage(e)}`, EXIT.usage);
  }
}

function pemCheck(data: Buffer, file: string, kind: "CERTIFICATE" | "PRIVATE KEY"): void {
  if (
    !data.toString("latin1").includes("-----BEGIN ") ||
    !data.toString("latin1").includes(kind.split(" ").pop()!)
  )
    throw new CliError(`${file} is not a PEM ${kind.toLowerCase()}`, EXIT.usage);
}

/** `xxx-ats.iot.eu-west-1.amazonaws.com` → `eu-west-1`. */
export function awsRegion(endpoint: string): string {
  return /\.iot\.([a-z0-9-]+)\.amazonaws\.com/.exec(endpoint)?.[1] ?? "";
}

/** Adds `aws-iot-setup` and `azure-iot-setup` to the program. */
export function addCloudSetupCommands(program: Command): void {
  program
    .command("aws-iot-setup")
    .description(
      "connect the CCM to AWS IoT: upload the thing's certificate and key, set mqtt.* and aws.*, save, restart",
    )
    .requiredOption("--endpoint <host[:port]>", "the account's IoT endpoint (port 8883, or 443 with ALPN)")
    .requiredOption("--cert <file>", "the thing's certificate (PEM)")
    .requiredOption("--key <file>", "the certificate's private key (PEM)")
    .option("--thing <name>", "thing name; default the CCM's device id")
    .option("--ca <file>", "CA certificate(s) (PEM); default the system's roots, which hold Amazon's")
    .action(async (opts, cmd) => {
      const cert = await local(opts.cert, "certificate");
      const key = await local(opts.key, "key");
      pemCheck(cert, opts.cert, "CERTIFICATE");
      pemCheck(key, opts.key, "PRIVATE KEY");
      const ca = opts.ca === undefined ? undefined : await local(opts.ca, "CA file");
      const endpoint = /:\d+$/.test(opts.endpoint) ? opts.endpoint : `${opts.endpoint}:8883`;
      await withClient(globalsOf(cmd), async (c) => {
        const thing = opts.thing ?? ((await c.call("Sys.GetInfo")) as { id: string }).id;
        const base = `aws-${thing.replace(/[^A-Za-z0-9_.-]/g, "_")}`;
        await putFile(c, `${base}.crt.pem`, cert);
        await putFile(c, `${base}.key.pem`, key);
        if (ca !== undefined) await putFile(c, "aws-ca.pem", ca);
        await configSet(
          c,
          [
            "mqtt.enable=true",
            `mqtt.server=${endpoint}`,
            `mqtt.ssl_cert=${base}.crt.pem`,
            `mqtt.ssl_key=${base}.key.pem`,
            `mqtt.ssl_ca=${ca === undefined ? "" : "aws-ca.pem"}`,
            "aws.enable=true",
            `aws.thing_name=${thing}`,
            `aws.region=${awsRegion(endpoint)}`,
            "azure.enable=false",
          ],
          { save: true, reboot: true },
        );
        process.stderr.write(`AWS IoT: ${thing} at ${endpoint}; the CCM restarts its components\n`);
      });
    });
  program
    .command("azure-iot-setup")
    .description(
      "connect the CCM to Azure IoT Hub with a device connection string (SAS or X.509), save, restart",
    )
    .requiredOption("--connection-string <cs>", "HostName=…;DeviceId=…;SharedAccessKey=… (or x509=true)")
    .option("--cert <file>", "X.509: the device certificate (PEM)")
    .option("--key <file>", "X.509: its private key (PEM)")
    .action(async (opts, cmd) => {
      let cs;
      try {
        cs = parseConnectionString(opts.connectionString);
      } catch (e) {
        throw new CliError(errorMessage(e), EXIT.usage);
      }
      if (cs.x509 && (opts.cert === undefined || opts.key === undefined))
        throw new CliError("x509=true needs --cert and --key", EXIT.usage);
      const cert = opts.cert === undefined ? undefined : await local(opts.cert, "certificate");
      const key = opts.key === undefined ? undefined : await local(opts.key, "key");
      await withClient(globalsOf(cmd), async (c) => {
        const assignments = ["azure.enable=true", `azure.cs=${opts.connectionString}`, "aws.enable=false"];
        if (cert !== undefined && key !== undefined) {
          const base = `azure-${cs.deviceId.replace(/[^A-Za-z0-9_.-]/g, "_")}`;
          await putFile(c, `${base}.crt.pem`, cert);
          await putFile(c, `${base}.key.pem`, key);
          assignments.push(`mqtt.ssl_cert=${base}.crt.pem`, `mqtt.ssl_key=${base}.key.pem`);
        }
        await configSet(c, assignments, { save: true, reboot: true });
        process.stderr.write(
          `Azure IoT Hub: ${cs.deviceId} at ${cs.hostName}; the CCM restarts its components\n`,
        );
      });
    });
}
