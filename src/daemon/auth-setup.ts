/** Builds the daemon's RpcAuth from `rpc.auth_file`, `rpc.acl_file`, `rpc.auth_domain`, `rpc.auth_algo`. */
import { readFileSync } from "node:fs";
import type { CcmConfig } from "../config/schema.js";
import { CcmError, errorMessage } from "../errors.js";
import { RpcAuth, parseAcl, parseHtdigest } from "../rpc/auth.js";
import type { CallContext } from "../rpc/registry.js";
import type { RpcErrorObject, RequestFrame } from "../rpc/frame.js";
import { HOST_CHANNEL } from "./host-link.js";
import { AZURE_CHANNEL } from "../cloud/azure-methods.js";
import { DASH_CHANNEL } from "../cloud/dash.js";

function read(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new CcmError("CONFIG_INVALID", `cannot read ${what} ${file}: ${errorMessage(e)}`);
  }
}

/** The RpcAuth the config describes; throws CONFIG_INVALID naming a file that cannot be used. */
export function createAuth(rpc: CcmConfig["rpc"]): RpcAuth {
  const users =
    rpc.auth_file === "" ? null : parseHtdigest(read(rpc.auth_file, "rpc.auth_file"), rpc.auth_domain);
  const acl = rpc.acl_file === "" ? null : parseAcl(read(rpc.acl_file, "rpc.acl_file"));
  return new RpcAuth({
    realm: rpc.auth_domain,
    algorithm: rpc.auth_algo,
    users,
    acl,
    // The host's own UART, and clouds that authenticated the caller themselves (IoT Hub's
    // service credentials for a direct method, the dashboard's own users and API keys).
    trusted: [HOST_CHANNEL, AZURE_CHANNEL, DASH_CHANNEL],
  });
}

/** An RpcServer `authorize` hook checking each request with `auth` (and recording the user). */
export function authorizer(
  auth: RpcAuth,
): (frame: RequestFrame, ctx: CallContext) => RpcErrorObject | undefined {
  return (frame, ctx) => {
    const r = auth.check(frame, {
      channel: ctx.channel,
      source: ctx.peer ?? ctx.channel,
      ...(ctx.user === undefined ? {} : { user: ctx.user }),
    });
    if (!r.ok) return r.error;
    if (r.user !== undefined) ctx.user = r.user;
    return undefined;
  };
}
