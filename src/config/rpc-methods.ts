/** Config.Get, Config.Set and Config.Save as Mongoose OS serves them (mos-protocols.md §7). */
import Type from "typebox";
import { CcmError } from "../errors.js";
import type { CallContext, MethodRegistry } from "../rpc/registry.js";
import { redact } from "./marks.js";
import type { ConfigStore } from "./store.js";
import { isTree, treeAt } from "./tree.js";

/** What the Config.* handlers need. */
export interface ConfigMethodDeps {
  store: ConfigStore;
  /** Whether this caller may see secrets in Config.Get. */
  mayReadSecrets: (ctx: CallContext) => boolean;
  /** Restarts the CCM's components soon, after the answer has gone out. */
  reboot: (reason: string) => void;
}

const GetParams = Type.Object({
  key: Type.Optional(
    Type.String({ description: "Dotted key of the subtree to return; absent: the whole tree." }),
  ),
  level: Type.Optional(Type.Integer({ description: "Accepted for mos compatibility; ignored." })),
});

const SetParams = Type.Object({
  config: Type.Optional(
    Type.Unknown({ description: "Sparse subtree of changes (with `key`: the value at key)." }),
  ),
  value: Type.Optional(Type.Unknown({ description: "Synonym of `config`." })),
  key: Type.Optional(Type.String({ description: "Dotted key `config`/`value` is the value of." })),
  level: Type.Optional(Type.Integer({ description: "Accepted for mos compatibility; ignored." })),
  save: Type.Optional(Type.Boolean({ description: "Save after setting." })),
  try_once: Type.Optional(Type.Boolean({ description: "Accepted for mos compatibility; ignored." })),
  reboot: Type.Optional(
    Type.Boolean({ description: "With `save`: restart the CCM's components after saving." }),
  ),
});

const SaveParams = Type.Object({
  reboot: Type.Optional(Type.Boolean({ description: "Restart the CCM's components after saving." })),
  try_once: Type.Optional(Type.Boolean({ description: "Accepted for mos compatibility; ignored." })),
});

/** Registers Config.Get, Config.Set and Config.Save on `registry`. */
export function registerConfigMethods(registry: MethodRegistry, deps: ConfigMethodDeps): void {
  const { store } = deps;
  registry.register({
    name: "Config.Get",
    description:
      "The effective config, or the subtree at `key`; secrets redacted unless the caller may read them.",
    params: GetParams,
    positional: ["key"],
    handler: (p, ctx) => {
      const value = store.get(p.key);
      return deps.mayReadSecrets(ctx) ? value : redact(value, p.key ?? "");
    },
  });
  registry.register({
    name: "Config.Set",
    description:
      'Changes the running config: `{"config":{…}}` sub-tree, checked against the schema and the vendor lock as a whole; optional `save`, and `reboot` with it.',
    params: SetParams,
    handler: (p) => {
      const given = p.config !== undefined ? p.config : p.value;
      if (given === undefined) throw new CcmError("RPC_INVALID_PARAMS", "config is required");
      const delta: unknown = p.key === undefined || p.key === "" ? given : treeAt(p.key, given);
      if (!isTree(delta)) throw new CcmError("RPC_INVALID_PARAMS", "config must be an object");
      const result = store.set(delta);
      const save = p.save === true;
      if (save) store.save();
      // As Mongoose OS: `reboot` acts only together with `save`.
      const reboot = save && p.reboot === true;
      if (reboot) deps.reboot("Config.Set with save and reboot");
      return result.reboot && !reboot ? { saved: save, reboot_required: true } : { saved: save };
    },
  });
  registry.register({
    name: "Config.Save",
    description:
      "Saves the running config power-safely; `reboot`: then restarts the CCM's components in-process.",
    params: SaveParams,
    handler: (p) => {
      store.save();
      if (p.reboot === true) deps.reboot("Config.Save with reboot");
      return { saved: true };
    },
  });
}
