/**
 * JSON-RPC over a serial link: an RpcPeer whose frames travel as lines on a SerialLink.
 * Bad input on the wire (oversized, corrupt, not UTF-8) is answered with one error frame and the
 * link keeps working; an unplug fails every pending call.
 */
import { CcmError, RPC_INVALID_REQUEST, RPC_PARSE_ERROR, errorMessage } from "../errors.js";
import { encodeFrame } from "../rpc/frame.js";
import { RpcPeer, type PeerProblem, type RpcPeerOptions } from "../rpc/peer.js";
import type { RpcServer } from "../rpc/server.js";
import { SerialLink, type SerialLinkOptions } from "./serial-link.js";

export interface SerialRpcOptions extends SerialLinkOptions {
  server?: RpcServer;
  /** Channel type given to the server: `UART` by default. */
  channelType?: string;
  timeoutMs?: number;
  maxPending?: number;
  jsonrpcMember?: boolean;
  /** Told about frames that could not be used. */
  onProblem?: (problem: PeerProblem | "write-failed", detail: string) => void;
}

/** Counters of the RPC layer on one link. */
export interface RpcStats {
  parse_errors: number;
  unmatched_responses: number;
  invalid_frames: number;
  write_errors: number;
}

/** An RpcPeer on a SerialLink. */
export class SerialRpcChannel {
  readonly link: SerialLink;
  readonly peer: RpcPeer;
  readonly rpcStats: RpcStats = {
    parse_errors: 0,
    unmatched_responses: 0,
    invalid_frames: 0,
    write_errors: 0,
  };

  constructor(options: SerialRpcOptions) {
    this.link = new SerialLink(options);
    const problem = (kind: PeerProblem | "write-failed", detail: string): void => {
      if (kind === "parse-error") this.rpcStats.parse_errors++;
      else if (kind === "unmatched-response") this.rpcStats.unmatched_responses++;
      else if (kind === "invalid-frame") this.rpcStats.invalid_frames++;
      else this.rpcStats.write_errors++;
      options.onProblem?.(kind, detail);
    };
    const peerOptions: RpcPeerOptions = {
      send: (frame) => {
        if (!this.link.isUp) throw new CcmError("LINK_DOWN", `${options.path} is not open`);
        this.link.send(encodeFrame(frame)).catch((e: unknown) => {
          problem("write-failed", errorMessage(e));
        });
      },
      context: { channel: options.channelType ?? "UART", peer: options.path },
      onProblem: problem,
    };
    if (options.server !== undefined) peerOptions.server = options.server;
    if (options.timeoutMs !== undefined) peerOptions.timeoutMs = options.timeoutMs;
    if (options.maxPending !== undefined) peerOptions.maxPending = options.maxPending;
    if (options.jsonrpcMember !== undefined) peerOptions.jsonrpcMember = options.jsonrpcMember;
    this.peer = new RpcPeer(peerOptions);

    this.link.on("frame", (text) => {
      this.peer.receiveText(text);
    });
    this.link.on("dropped", (reason, detail) => {
      const code = reason === "oversize" ? RPC_INVALID_REQUEST : RPC_PARSE_ERROR;
      this.sendError(code, detail);
    });
    this.link.on("down", (error) => {
      this.peer.close(`${options.path} closed${error === undefined ? "" : `: ${error.message}`}`);
    });
    this.link.on("up", () => {
      this.peer.reopen();
    });
  }

  /** Sends an error frame with id null: how the link tells the peer a frame was refused. */
  private sendError(code: number, message: string): void {
    if (!this.link.isUp) return;
    this.link.send(JSON.stringify({ id: null, error: { code, message } })).catch(() => undefined);
  }
}
