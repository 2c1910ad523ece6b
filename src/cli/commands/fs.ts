/**
 * `ccm ls`, `ccm get`, `ccm put`, `ccm rm`: the device's files through FS.*, chunked as mos does
 * (mos-protocols.md §7.1: 512-byte chunks, the first truncating, the rest appending, 3 attempts each).
 */
import type { Command } from "@commander-js/extra-typings";
import { readFile, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import type { RpcClient } from "../../channels/client/rpc-client.js";
import { CliError, EXIT, printResult } from "../output.js";
import { globalsOf } from "../options.js";
import { withClient } from "../session.js";

const CHUNK = 512;
const ATTEMPTS = 3;

async function attempt<T>(what: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await what();
    } catch (e) {
      if (i >= ATTEMPTS) throw e;
    }
  }
}

/** Uploads `data` as `name`, as `mos put` does; an empty file is created too (mos sends nothing). */
export async function putFile(client: RpcClient, name: string, data: Buffer): Promise<void> {
  for (let offset = 0; offset === 0 || offset < data.length; offset += CHUNK) {
    const chunk = data.subarray(offset, offset + CHUNK);
    await attempt(() =>
      client.call("FS.Put", { filename: name, offset, append: offset > 0, data: chunk.toString("base64") }),
    );
  }
}

/** Downloads `name`, as `mos get` does. */
export async function getFile(client: RpcClient, name: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const r = (await attempt(() => client.call("FS.Get", { filename: name, offset, len: CHUNK }))) as {
      data: string;
      left: number;
    };
    const part = Buffer.from(r.data, "base64");
    parts.push(part);
    offset += part.length;
    if (r.left <= 0 || part.length === 0) return Buffer.concat(parts);
  }
}

/** Adds the file commands to the program. */
export function addFsCommands(program: Command): void {
  program
    .command("ls")
    .description("list the device's files (with -l, their sizes)")
    .argument("[path]", "folder", "/")
    .option("-l, --long", "name and size")
    .action(async (path, opts, cmd) => {
      const globals = globalsOf(cmd);
      const r = await withClient(globals, (c) =>
        c.call(opts.long === true ? "FS.ListExt" : "FS.List", { path }),
      );
      if (globals.json === true || !Array.isArray(r)) {
        printResult(r, true);
        return;
      }
      for (const e of r as (string | { name: string; size: number })[])
        process.stdout.write(typeof e === "string" ? `${e}\n` : `${e.name} ${e.size}\n`);
    });
  program
    .command("get")
    .description("print a device file, or save it with -o")
    .argument("<file>", "name on the device")
    .option("-o, --output <path>", "write here instead of standard output")
    .action(async (file, opts, cmd) => {
      const data = await withClient(globalsOf(cmd), (c) => getFile(c, file));
      if (opts.output === undefined) process.stdout.write(data);
      else await writeFile(opts.output, data);
    });
  program
    .command("put")
    .description("upload a file to the device (as DEVICE_NAME, default the local file's name)")
    .argument("<file>", "local file")
    .argument("[name]", "name on the device")
    .action(async (file, name, _opts, cmd) => {
      let data: Buffer;
      try {
        data = await readFile(file);
      } catch (e) {
        throw new CliError(`cannot read ${file}: ${(e as Error).message}`, EXIT.usage);
      }
      await withClient(globalsOf(cmd), (c) => putFile(c, name ?? basename(file), data));
    });
  program
    .command("rm")
    .description("delete a device file")
    .argument("<file>", "name on the device")
    .action(async (file, _opts, cmd) => {
      await withClient(globalsOf(cmd), (c) => c.call("FS.Remove", { filename: file }));
    });
}
