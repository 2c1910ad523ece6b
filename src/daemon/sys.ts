/** Sys.* methods the CCM serves itself. */
import { arch, freemem, totalmem } from "node:os";
import type { MethodRegistry } from "../rpc/registry.js";
import type { HostLink } from "./host-link.js";
import { VERSION } from "../version.js";

export interface SysDeps {
  deviceId: string;
  host: HostLink;
  startedAt: number;
}

/** Registers Sys.GetInfo: the CCM's identity, uptime and the host link's state and counters. */
export function registerSysMethods(registry: MethodRegistry, deps: SysDeps): void {
  registry.register({
    name: "Sys.GetInfo",
    description:
      "The CCM's id, version, uptime, memory, and its host link: state, what the host said, counters.",
    handler: () => {
      const mem = process.memoryUsage();
      const host = deps.host;
      return {
        id: deps.deviceId,
        app: "ccm",
        fw_version: VERSION,
        arch: `${arch()}-node${process.versions.node}`,
        uptime: Math.floor((Date.now() - deps.startedAt) / 1000),
        ram_size: totalmem(),
        ram_free: freemem(),
        rss: mem.rss,
        host: {
          port: host.channel.link.options.path,
          state: host.state,
          error: host.channel.link.openError === "" ? undefined : host.channel.link.openError,
          resets: host.resets,
          sys_info: host.info.sys_info,
          methods: host.info.methods,
          stats: host.stats,
        },
      };
    },
  });
}
