/** A caller's connection to a device over any channel, as `ccm --port URL` opens it. */
import { CcmError } from "../../errors.js";
import { answerFrameChallenge, type Credentials } from "../../rpc/auth-client.js";
import type { CallOptions, RpcPeer } from "../../rpc/peer.js";

/** One open connection to a device. */
export interface RpcClient {
  /** Calls a method; answers a digest challenge once when credentials were given. */
  call(method: string, params?: unknown, options?: { timeoutMs?: number }): Promise<unknown>;
  /** Sends a notification: no id, no answer. */
  notify(method: string, params?: unknown): Promise<void>;
  close(): Promise<void>;
  /** Frames that answered no call of this client's (a notification answered, a late answer). */
  readonly unsolicited: number;
}

/** Calls through `peer` with `src`, resending once with in-frame digest auth after a 401 (mos does the same). */
export async function callWithFrameAuth(
  peer: RpcPeer,
  method: string,
  params: unknown,
  options: CallOptions,
  creds: Credentials | undefined,
): Promise<unknown> {
  try {
    return await peer.call(method, params, options);
  } catch (e) {
    if (creds === undefined || !(e instanceof CcmError) || e.code !== "RPC_REMOTE" || e.rpcCode !== 401)
      throw e;
    const auth = answerFrameChallenge(e.message, creds);
    if (auth === undefined) throw e;
    return await peer.call(method, params, { ...options, envelope: { ...options.envelope, auth } });
  }
}
