/** Sys.* methods the CCM serves itself. */
import { arch, freemem, totalmem } from "node:os";
import type { MethodRegistry } from "../rpc/registry.js";
import type { HostLink } from "./host-link.js";
import { VERSION } from "../version.js";

export interface SysDeps {
  deviceId: string;
  host: HostLink;
  startedAt: number;
  /** More sections (`mqtt`, `shadow`): each a function giving its status now, or undefined. */
  sections?: Record<string, () => unknown>;
}

/** Memory figures cost a syscall each (~10 µs): read at most once a second, not per call. */
function memorySampler(): () => { ram_size: number; ram_free: number; rss: number } {
  let at = -Infinity;
  let last = { ram_size: 0, ram_free: 0, rss: 0 };
  return () => {
    const now = Date.now();
    if (now - at >= 1000) {
      last = { ram_size: totalmem(), ram_free: freemem(), rss: process.memoryUsage.rss() };
      at = now;
    }
    return last;
  };
}

/** Registers Sys.GetInfo: the CCM's identity, uptime and the host link's state and counters. */
export function registerSysMethods(registry: MethodRegistry, deps: SysDeps): void {
  const memory = memorySampler();
  const archName = `${arch()}-node${process.versions.node}`;
  registry.register({
    name: "Sys.GetInfo",
    description:
      "The CCM's id, version, uptime, memory, its host link (state, what the host said, counters), Wi-Fi, MQTT and shadow status.",
    handler: () => {
      const host = deps.host;
      const info: Record<string, unknown> = {
        id: deps.deviceId,
        app: "ccm",
        fw_version: VERSION,
        arch: archName,
        uptime: Math.floor((Date.now() - deps.startedAt) / 1000),
        ...memory(),
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
      for (const [name, section] of Object.entries(deps.sections ?? {})) {
        const value = section();
        if (value !== undefined) info[name] = value;
      }
      return info;
    },
  });
}
