/**
 * The shadow as the host and remote callers see it, whichever backend keeps it: `Shadow.Report`
 * (host → reported), `Shadow.Get`, `Shadow.Update` (desired, from remote RPC), and `Shadow.Delta`
 * notifications to the host with the delta alone, also whenever the host comes (back) up.
 */
import Type from "typebox";
import { CcmError, errorMessage } from "../errors.js";
import type { Logger } from "../log/logger.js";
import type { MethodRegistry } from "../rpc/registry.js";
import type { ShadowBackend } from "./backend.js";
import type { JsonObject } from "./document.js";

export interface ShadowServiceOptions {
  backend: ShadowBackend;
  registry: MethodRegistry;
  /** Delivers a notification to the host (queued while its link is down). */
  deliver: (method: string, params: unknown) => void;
  logger: Logger;
}

/** Registers the Shadow.* methods and sends deltas to the host. */
export class ShadowService {
  /** Deltas sent to the host, since start. */
  deltas = 0;
  /** Whoever keeps the shadow. */
  readonly backend: ShadowBackend;
  private readonly o: ShadowServiceOptions;
  private readonly filters: ((delta: JsonObject) => JsonObject)[] = [];

  constructor(o: ShadowServiceOptions) {
    this.o = o;
    this.backend = o.backend;
    o.backend.on("delta", (state) => {
      this.sendDelta(state);
    });
    o.registry.register({
      name: "Shadow.Report",
      description:
        "Sets the reported state (the host's view): an object merged into state.reported; kept while the shadow is out of reach.",
      params: Type.Record(Type.String(), Type.Unknown()),
      handler: async (params) => {
        const reported = params as JsonObject;
        await (o.backend.report?.(reported) ?? o.backend.update({ state: { reported } }));
        return true;
      },
    });
    o.registry.register({
      name: "Shadow.Get",
      description: "The whole shadow document: state (desired, reported, delta), metadata, version.",
      handler: () => o.backend.get(),
    });
    o.registry.register({
      name: "Shadow.Update",
      description:
        'Applies an update document `{"state":{"desired":{…}},"version"?:N}` (a stale version: 409).',
      params: Type.Object({
        state: Type.Object({
          desired: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
          reported: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
        }),
        version: Type.Optional(Type.Integer()),
      }),
      handler: (req) => o.backend.update(req as JsonObject),
    });
  }

  /** Sends the host the delta there is now, if any (the host came up or reset). */
  resendPending(): void {
    this.o.backend.pendingDelta().then(
      (delta) => {
        if (delta !== undefined) this.sendDelta(delta);
      },
      (e: unknown) => {
        this.o.logger.debug(`no delta for the host: ${errorMessage(e)}`);
      },
    );
  }

  start(): void {
    this.o.backend.start();
  }

  stop(): void {
    this.o.backend.stop();
  }

  /**
   * Lets the CCM take its own keys out of a delta before the host sees it (`ota`: an update to
   * apply). `filter` returns what is left for the host.
   */
  addDeltaFilter(filter: (delta: JsonObject) => JsonObject): void {
    this.filters.push(filter);
  }

  private sendDelta(delta: JsonObject): void {
    let state = delta;
    for (const f of this.filters) state = f(state);
    if (Object.keys(state).length === 0) return;
    this.deltas++;
    try {
      this.o.deliver("Shadow.Delta", state);
    } catch (e) {
      this.o.logger.warn(`Shadow.Delta not delivered: ${errorMessage(e)}`);
    }
  }
}

/** The default shadow topic prefix for `thing`. */
export function defaultShadowPrefix(thing: string): string {
  if (thing === "" || /[+#/]/.test(thing))
    throw new CcmError("CONFIG_INVALID", `bad shadow thing name "${thing}"`);
  return `$aws/things/${thing}/shadow`;
}
