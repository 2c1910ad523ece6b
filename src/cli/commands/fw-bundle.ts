/** `ccm create-fw-bundle` (mos's command and part syntax) and `ccm fw-bundle-info`. */
import type { Command } from "@commander-js/extra-typings";
import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { createBundle, readBundle, type Bundle, type PartInput } from "../../fw/bundle.js";
import { parseAttrValue, parsePartSpec } from "../../fw/part-spec.js";
import { CcmError, errorMessage } from "../../errors.js";
import { CliError, EXIT, printResult } from "../output.js";
import { globalsOf } from "../options.js";

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function readKeyFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CliError(`${flag}: cannot read ${path}: ${errorMessage(e)}`, EXIT.usage);
  }
}

/** Public keys from PEM files (a private key's file gives its public half). */
export function readTrustedKeys(paths: readonly string[], flag = "--trusted-key"): KeyObject[] {
  return paths.map((p) => {
    try {
      return createPublicKey(readKeyFile(p, flag));
    } catch (e) {
      if (e instanceof CliError) throw e;
      throw new CliError(`${flag}: ${p} holds no usable public key: ${errorMessage(e)}`, EXIT.usage);
    }
  });
}

/** A bundle problem as the CLI reports it: bad arguments are usage errors, bad bundles failures. */
function failure(e: unknown): CliError {
  if (e instanceof CliError) return e;
  if (e instanceof CcmError && e.code === "BAD_ARGUMENT") return new CliError(e.message, EXIT.usage);
  return new CliError(errorMessage(e), EXIT.remoteError);
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/** The human-readable summary of a verified bundle. */
export function describeBundle(file: string, b: Bundle, keyNames: readonly string[]): string {
  const m = b.manifest;
  const version = m.version === undefined ? "" : ` version ${m.version}`;
  const build = m.build_id === undefined ? "" : ` (build ${m.build_id})`;
  const trust =
    b.trustedKey !== undefined
      ? `signed, verified with ${keyNames[b.trustedKey] ?? "a trusted key"}`
      : b.signatures > 0
        ? `${b.signatures} signature(s), not checked (no --trusted-key)`
        : "unsigned";
  const lines = [`${file}: ${m.name ?? "(no name)"} for ${m.platform}${version}${build}; ${trust}`];
  for (const p of b.parts) {
    const where = p.addr === undefined ? "" : ` @ ${hex32(p.addr)}`;
    const src = p.src === undefined ? "(no data)" : `${p.src}, ${p.size} bytes${where}`;
    const sha = typeof p.cs_sha256 === "string" ? `, sha256 ${p.cs_sha256.slice(0, 16)}…` : "";
    lines.push(`  ${p.name}: ${p.type}, ${src}${sha}`);
  }
  lines.push("all checksums verified");
  return lines.join("\n") + "\n";
}

/** Adds `create-fw-bundle` and `fw-bundle-info` to the program. */
export function addFwBundleCommands(program: Command): void {
  program
    .command("create-fw-bundle")
    .description(
      "make a firmware bundle as mos does: manifest.json first, stored parts with size, cs_sha1, cs_sha256",
    )
    .argument(
      "<part...>",
      "parts as name:key=value,…, e.g. host_fw:type=STM32,src=FIRMWARE.BIN,addr=0x8000000 (.hex is parsed)",
    )
    .requiredOption("-o, --output <file>", "the bundle to write, e.g. fw.zip")
    .requiredOption("--name <name>", "the firmware's name (manifest name)")
    .requiredOption("--platform <platform>", "the platform it is for, e.g. ccm_host (manifest platform)")
    // Not --version: commander gives that to `ccm --version` wherever it appears on the line.
    .option("--fw-version <version>", "manifest version")
    .option("--build-id <id>", "manifest build_id")
    .option("--description <text>", "manifest description")
    .option(
      "--attr <key=value>",
      "another top-level manifest attribute, as mos's --attr; repeatable",
      collect,
      [],
    )
    .option("--src-dir <dir>", "where relative src= paths are read from (default: the current directory)")
    .option(
      "--sign-key <file>",
      "PEM private key (ECDSA P-256 or Ed25519) to sign the manifest with; repeatable, up to 8",
      collect,
      [],
    )
    .action((specs, opts) => {
      try {
        const parts: PartInput[] = specs.map((s) => {
          const { name, attrs } = parsePartSpec(s);
          if (typeof attrs.type !== "string")
            throw new CliError(`part ${name}: type= is required (e.g. type=STM32)`, EXIT.usage);
          const part: PartInput = { ...attrs, name, type: attrs.type };
          if (attrs.src !== undefined) {
            const src = String(attrs.src);
            part.src = opts.srcDir !== undefined && !isAbsolute(src) ? join(opts.srcDir, src) : src;
          }
          return part;
        });
        const zip = createBundle({
          name: opts.name,
          platform: opts.platform,
          parts,
          ...(opts.fwVersion === undefined ? {} : { version: opts.fwVersion }),
          ...(opts.buildId === undefined ? {} : { buildId: opts.buildId }),
          ...(opts.description === undefined ? {} : { description: opts.description }),
          attrs: Object.fromEntries(
            opts.attr.map((a) => {
              const eq = a.indexOf("=");
              if (eq <= 0) throw new CliError(`--attr ${a}: expected key=value`, EXIT.usage);
              const key = a.slice(0, eq);
              return [key, parseAttrValue(key, a.slice(eq + 1))];
            }),
          ),
          signingKey: opts.signKey.map((f) => readKeyFile(f, "--sign-key")),
        });
        writeFileSync(opts.output, zip);
        process.stderr.write(`wrote ${opts.output} (${zip.length} bytes)\n`);
      } catch (e) {
        throw failure(e);
      }
    });
  program
    .command("fw-bundle-info")
    .description("verify a firmware bundle (zip, checksums, platform, signature) and print its manifest")
    .argument("<bundle>", "the bundle, e.g. fw.zip")
    .option("--platform <platform>", "refuse a bundle for another platform")
    .option(
      "--trusted-key <file>",
      "PEM public key the bundle must be signed with; repeatable (one match is enough)",
      collect,
      [],
    )
    .action((file, opts, cmd) => {
      const globals = globalsOf(cmd);
      const keys = readTrustedKeys(opts.trustedKey);
      let bundle: Bundle;
      try {
        const buf = readFileSync(file);
        bundle = readBundle(buf, {
          trustedKeys: keys,
          ...(opts.platform === undefined ? {} : { platform: opts.platform }),
        });
      } catch (e) {
        throw failure(e);
      }
      if (globals.json === true) printResult(bundle.manifest, true);
      else process.stdout.write(describeBundle(file, bundle, opts.trustedKey));
    });
}
