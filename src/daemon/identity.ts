/** The device id: configured, or generated once and kept in the data dir so it survives restarts. */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { atomicWriteFileSync } from "../util/atomic-file.js";

/** Returns `configured` if set, else the id stored in `dataDir`, creating `ccm_xxxxxx` the first time. */
export function resolveDeviceId(configured: string, dataDir: string): string {
  if (configured !== "") return configured;
  const file = join(dataDir, "identity.json");
  try {
    const stored = JSON.parse(readFileSync(file, "utf8")) as { id?: unknown };
    if (typeof stored.id === "string" && stored.id !== "") return stored.id;
  } catch {
    // absent or unreadable: a new id is made below
  }
  const id = `ccm_${randomBytes(3).toString("hex")}`;
  mkdirSync(dataDir, { recursive: true });
  atomicWriteFileSync(file, `${JSON.stringify({ id })}\n`);
  return id;
}
