/**
 * Building blocks of the config schema and its marks: `x-secret` (redacted from callers that may not
 * read secrets) and `x-reboot` (takes effect when the CCM's components restart).
 */
import Type, { type TProperties } from "typebox";

/** Extra JSON Schema keywords a config key may carry. */
export interface Marks {
  "x-secret"?: true;
  "x-reboot"?: true;
}

/** An integer key with a default and a range. */
export const int = (def: number, description: string, min = 0, max = 2 ** 31 - 1, marks: Marks = {}) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description, ...marks });

/** A string key. */
export const str = (def: string, description: string, marks: Marks = {}) =>
  Type.String({ default: def, description, ...marks });

/** A secret string key: never shown to callers that may not read secrets. */
export const secret = (description: string, marks: Marks = {}) =>
  Type.String({ default: "", description, "x-secret": true, ...marks });

/** A boolean key. */
export const bool = (def: boolean, description: string, marks: Marks = {}) =>
  Type.Boolean({ default: def, description, ...marks });

/** A section: an object of keys, defaults filled, no unknown keys. */
export const section = <P extends TProperties>(properties: P, marks: Marks = {}) =>
  Type.Object(properties, { default: {}, additionalProperties: false, ...marks });

/** Mark for keys read only when the components start (Config.Save with reboot applies them). */
export const REBOOT: Marks = { "x-reboot": true };
