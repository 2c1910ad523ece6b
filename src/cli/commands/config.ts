/**
 * `ccm config-get [key]`, `ccm config-set key=value …` and `ccm wifi SSID PASS`, driving Config.* as
 * mos does (mos-protocols.md §7.1): the whole tree is fetched, values are typed by the config schema
 * this CLI ships with (by the key's current value for keys it does not know), and the sparse change
 * is sent with save and reboot.
 */
import type { Command } from "@commander-js/extra-typings";
import type { RpcClient } from "../../channels/client/rpc-client.js";
import { schemaKind, splitAssignment, typedValue, type ValueKind } from "../../config/load.js";
import { getAt, isTree, merge, treeAt, type Tree } from "../../config/tree.js";
import { isCcmError } from "../../errors.js";
import { CliError, EXIT, printResult } from "../output.js";
import { globalsOf } from "../options.js";
import { withClient } from "../session.js";

/**
 * Turns `key=value` into a sparse tree, the value typed by the schema (`wifi.sta.pass=1234` stays a
 * string, `mqtt.keepalive=30` is a number); a key the schema lacks (a newer CCM's, a Mongoose OS
 * device's) is typed like its current value in `tree`.
 */
export function typedAssignment(assignment: string, tree: unknown): Tree {
  try {
    const { key, raw } = splitAssignment(assignment);
    const kind = schemaKind(key) ?? kindOf(getAt(tree, key));
    if (kind === undefined) throw new CliError(`unknown config key: ${key}`, EXIT.usage);
    return treeAt(key, typedValue(key, raw, kind));
  } catch (e) {
    if (isCcmError(e, "CONFIG_INVALID")) throw new CliError(e.message, EXIT.usage);
    throw e;
  }
}

/** The kind of a value read from a device; undefined when the device has no such key. */
function kindOf(current: unknown): ValueKind | undefined {
  if (current === undefined) return undefined;
  if (typeof current === "number") return "number";
  if (typeof current === "boolean") return "boolean";
  if (Array.isArray(current)) return "array";
  return isTree(current) ? "section" : "string";
}

interface SetFlags {
  save: boolean;
  reboot: boolean;
}

/** Config.Get, typed change, Config.Set with save/reboot; Config.Save when the device did not save (old firmware). */
export async function configSet(
  client: RpcClient,
  assignments: readonly string[],
  flags: SetFlags,
): Promise<void> {
  const tree = await client.call("Config.Get");
  let delta: Tree = {};
  for (const a of assignments) delta = merge(delta, typedAssignment(a, tree));
  const params: Record<string, unknown> = { config: delta };
  if (flags.save) params.save = true;
  if (flags.save && flags.reboot) params.reboot = true;
  const reply = (await client.call("Config.Set", params)) as { saved?: unknown } | null;
  if (flags.save && reply?.saved !== true)
    await client.call("Config.Save", { reboot: flags.reboot, try_once: false });
}

/** Adds `config-get`, `config-set` and `wifi` to the program. */
export function addConfigCommands(program: Command): void {
  program
    .command("config-get")
    .description("print the device's config, or the value at a dotted key")
    .argument("[key]", "dotted key, e.g. wifi.sta or mqtt.server")
    .action(async (key, _opts, cmd) => {
      const globals = globalsOf(cmd);
      const value = await withClient(globals, (c) => c.call("Config.Get"));
      const at = key === undefined ? value : getAt(value, key);
      if (at === undefined) throw new CliError(`unknown config key: ${String(key)}`, EXIT.usage);
      printResult(at, globals.json === true);
    });
  program
    .command("config-set")
    .description("set config keys (typed by the config schema), save, and restart the device's components")
    .argument("<key=value...>", "assignments, e.g. mqtt.enable=true mqtt.server=broker:1883")
    .option("--no-save", "change the running config only")
    .option("--no-reboot", "save without restarting")
    .action(async (assignments, opts, cmd) => {
      await withClient(globalsOf(cmd), (c) => configSet(c, assignments, opts));
    });
  program
    .command("wifi")
    .description("provision Wi-Fi: join SSID with PASS and close the access point, as `mos wifi` does")
    .argument("<ssid>", "network name")
    .argument("[pass]", "passphrase; omit for an open network", "")
    .action(async (ssid, pass, _opts, cmd) => {
      const assignments = [
        "wifi.ap.enable=false",
        "wifi.sta.enable=true",
        `wifi.sta.ssid=${ssid}`,
        `wifi.sta.pass=${pass}`,
      ];
      await withClient(globalsOf(cmd), (c) => configSet(c, assignments, { save: true, reboot: true }));
    });
}
