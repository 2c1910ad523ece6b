/**
 * `ccm config-get [key]`, `ccm config-set key=value …` and `ccm wifi SSID PASS`, driving Config.* as
 * mos does (mos-protocols.md §7.1): the whole tree is fetched, values are typed by the type the key
 * already has, and the sparse change is sent with save and reboot.
 */
import type { Command } from "@commander-js/extra-typings";
import type { RpcClient } from "../../channels/client/rpc-client.js";
import { getAt, isTree, merge, treeAt, type Tree } from "../../config/tree.js";
import { CliError, EXIT, printResult } from "../output.js";
import { globalsOf } from "../options.js";
import { withClient } from "../session.js";

/** Turns `key=value` into a sparse tree, the value typed like the key's current value in `tree`. */
export function typedAssignment(assignment: string, tree: unknown): Tree {
  const eq = assignment.indexOf("=");
  if (eq <= 0) throw new CliError(`expected key=value, got "${assignment}"`, EXIT.usage);
  const key = assignment.slice(0, eq);
  const raw = assignment.slice(eq + 1);
  const current = getAt(tree, key);
  if (current === undefined) throw new CliError(`unknown config key: ${key}`, EXIT.usage);
  if (isTree(current)) throw new CliError(`${key} is a section; set one of its keys`, EXIT.usage);
  let value: unknown = raw;
  if (typeof current === "number") {
    value = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(value))
      throw new CliError(`${key}: "${raw}" is not a number`, EXIT.usage);
  } else if (typeof current === "boolean") {
    if (raw !== "true" && raw !== "false")
      throw new CliError(`${key}: "${raw}" is not true or false`, EXIT.usage);
    value = raw === "true";
  } else if (Array.isArray(current)) {
    value = raw.trim() === "" ? [] : raw.split(",").map((s) => s.trim());
  }
  return treeAt(key, value);
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
    .description(
      "set config keys (typed like their current values), save, and restart the device's components",
    )
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
