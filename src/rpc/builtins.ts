/** The introspection methods every Mongoose OS RPC node serves: RPC.List, RPC.Describe, RPC.Ping. */
import Type from "typebox";
import { CcmError } from "../errors.js";
import type { CallContext, MethodRegistry } from "./registry.js";

export interface BuiltinOptions {
  /** Methods served elsewhere but reachable through this node (the host's), added to RPC.List. */
  extraNames?: (ctx: CallContext) => readonly string[];
}

/** Registers RPC.List, RPC.Describe and RPC.Ping on `registry`. */
export function registerRpcBuiltins(registry: MethodRegistry, options: BuiltinOptions = {}): void {
  registry.register({
    name: "RPC.List",
    description: "Lists the methods this node serves, and those it forwards to its host.",
    result: Type.Array(Type.String()),
    handler: (_params, ctx) => {
      const names = new Set(registry.names());
      for (const n of options.extraNames?.(ctx) ?? []) names.add(n);
      return [...names].sort();
    },
  });
  registry.register({
    name: "RPC.Describe",
    description: "Describes one method: its description and the JSON Schema of its params and result.",
    params: Type.Object({ name: Type.String({ description: "method name" }) }),
    positional: ["name"],
    handler: ({ name }) => {
      const m = registry.get(name);
      if (m === undefined)
        throw new CcmError("RPC_INVALID_PARAMS", `name not found: ${name}`, { rpcCode: 404 });
      return { name: m.name, description: m.description, params: m.params ?? null, result: m.result ?? null };
    },
  });
  registry.register({
    name: "RPC.Ping",
    description: "Answers at once; tells the caller which channel it came in on.",
    handler: (_params, ctx) => ({ channel_info: ctx.peer ?? ctx.channel }),
  });
}
