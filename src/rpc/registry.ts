/**
 * The methods a peer serves: name → params schema, description and handler.
 * Schemas are TypeBox (plain JSON Schema), compiled once, so RPC.Describe can send them as they are.
 */
import type { Static, TSchema } from "typebox";
import { Compile } from "typebox/compile";
import { CcmError } from "../errors.js";
import type { RequestFrame } from "./frame.js";

/** Who is calling: the channel a request came in on and the frame itself. */
export interface CallContext {
  /** Channel type as Mongoose OS names them: `UART`, `WS_in`, `HTTP`, `MQTT`, `local`. */
  channel: string;
  /** The caller's address when the channel knows one (`127.0.0.1:5123`, a serial path). */
  peer?: string | undefined;
  /** The authenticated user: set by the channel (HTTP digest, WS handshake) or by authorisation. */
  user?: string | undefined;
  frame: RequestFrame;
}

export type Handler<P> = (params: P, ctx: CallContext) => unknown;

export interface MethodSpec<S extends TSchema | undefined = TSchema | undefined> {
  name: string;
  /** One line: what the method does. */
  description: string;
  /** Params schema; absent means "takes no params" and anything given is ignored. */
  params?: S;
  /** Names for positional params: `[2,3]` becomes `{a:2,b:3}` before validation. */
  positional?: readonly string[];
  /** Result schema, for RPC.Describe and the docs. */
  result?: TSchema;
  handler: Handler<S extends TSchema ? Static<S> : undefined>;
}

/** A registered method, its params validator compiled. */
export interface Method {
  readonly name: string;
  readonly description: string;
  readonly params: TSchema | undefined;
  readonly result: TSchema | undefined;
  readonly positional: readonly string[] | undefined;
  readonly handler: Handler<unknown>;
  /** Validates and normalises params; throws CcmError RPC_INVALID_PARAMS naming the bad field. */
  readonly prepare: (params: unknown) => unknown;
}

/** Registered methods by name; lookups are exact (JSON-RPC method names are case-sensitive). */
export class MethodRegistry {
  private readonly methods = new Map<string, Method>();

  /** Adds a method; a later registration of the same name replaces the earlier one. */
  register<S extends TSchema | undefined>(spec: MethodSpec<S>): this {
    this.methods.set(spec.name, {
      name: spec.name,
      description: spec.description,
      params: spec.params,
      result: spec.result,
      positional: spec.positional,
      handler: spec.handler as Handler<unknown>,
      prepare: makePrepare(spec.name, spec.params, spec.positional),
    });
    return this;
  }

  unregister(name: string): boolean {
    return this.methods.delete(name);
  }

  get(name: string): Method | undefined {
    return this.methods.get(name);
  }

  has(name: string): boolean {
    return this.methods.has(name);
  }

  /** Method names, sorted. */
  names(): string[] {
    return [...this.methods.keys()].sort();
  }
}

function makePrepare(
  name: string,
  schema: TSchema | undefined,
  positional: readonly string[] | undefined,
): (params: unknown) => unknown {
  if (schema === undefined) return () => undefined;
  const validator = Compile(schema);
  return (params) => {
    let value = params;
    if (Array.isArray(value) && positional !== undefined) {
      if (value.length > positional.length) {
        throw new CcmError("RPC_INVALID_PARAMS", `${name}: expected at most ${positional.length} params`);
      }
      const named: Record<string, unknown> = {};
      for (let i = 0; i < value.length; i++) named[positional[i] as string] = value[i] as unknown;
      value = named;
    }
    if (value === undefined) value = {};
    if (validator.Check(value)) return value;
    throw new CcmError("RPC_INVALID_PARAMS", `invalid params: ${describeErrors(validator.Errors(value))}`);
  };
}

interface SchemaError {
  instancePath: string;
  message: string;
  keyword: string;
  params: unknown;
}

function describeErrors(errors: Iterable<SchemaError>): string {
  const parts: string[] = [];
  for (const e of errors) {
    if (e.keyword === "boolean") continue;
    let path = e.instancePath.replace(/^\//, "").replaceAll("/", ".");
    let message = e.message;
    const p = e.params as { requiredProperties?: string[]; additionalProperties?: string[] } | undefined;
    if (e.keyword === "required" && p?.requiredProperties !== undefined) {
      path = [path, p.requiredProperties.join(", ")].filter((s) => s !== "").join(".");
      message = "is required";
    } else if (e.keyword === "additionalProperties" && p?.additionalProperties !== undefined) {
      path = [path, p.additionalProperties.join(", ")].filter((s) => s !== "").join(".");
      message = "is not allowed";
    }
    parts.push(`${path === "" ? "params" : `params.${path}`} ${message}`);
    if (parts.length === 3) break;
  }
  return parts.join("; ");
}
