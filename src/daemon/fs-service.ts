/**
 * FS.* as Mongoose OS serves them (reference mos-protocols.md §7: FS.List, FS.ListExt, FS.Get,
 * FS.Put, FS.Remove, FS.Rename), on a folder of the data dir (`<data-dir>/fs`) so `mos put`,
 * `ccm put` and the setup commands can hand the CCM certificates. Names are confined to that
 * folder (a leading `/` names its root; `..` out of it is refused). Writes are fsynced.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { join, normalize, sep } from "node:path";
import Type from "typebox";
import { CcmError, errorMessage } from "../errors.js";
import type { MethodRegistry } from "../rpc/registry.js";

/** The file system root FS.* serves, inside the data dir. */
export function fsRoot(dataDir: string): string {
  return join(dataDir, "fs");
}

/** `name` (`/ca.pem`, `certs/a.pem`) as a path inside `root`; throws BAD_ARGUMENT when it leaves it. */
export function resolveInside(root: string, name: string): string {
  const rel = normalize(name.replace(/^\/+/, ""));
  if (
    rel === "" ||
    rel === "." ||
    rel.startsWith(`..${sep}`) ||
    rel === ".." ||
    rel.includes(`${sep}..${sep}`)
  )
    throw new CcmError("BAD_ARGUMENT", `illegal file name "${name}"`);
  return join(root, rel);
}

const Filename = Type.String({ minLength: 1, maxLength: 255 });

/** Registers FS.* on `root` (created if missing). */
export function registerFsMethods(registry: MethodRegistry, root: string): void {
  mkdirSync(root, { recursive: true });
  const list = (path: string | undefined): string[] => {
    const dir = path === undefined || path === "/" || path === "" ? root : resolveInside(root, path);
    try {
      return readdirSync(dir).sort();
    } catch (e) {
      throw new CcmError("BAD_ARGUMENT", `cannot list ${path ?? "/"}: ${errorMessage(e)}`);
    }
  };
  registry.register({
    name: "FS.List",
    description: "Names of the files in the CCM's file folder (`path`, default `/`).",
    params: Type.Object({ path: Type.Optional(Type.String()) }),
    handler: (p) => list(p.path),
  });
  registry.register({
    name: "FS.ListExt",
    description: "Files with their sizes: `[{name, size}]`.",
    params: Type.Object({ path: Type.Optional(Type.String()) }),
    handler: (p) => {
      const dir =
        p.path === undefined || p.path === "/" || p.path === "" ? root : resolveInside(root, p.path);
      return list(p.path).map((name) => ({ name, size: statSync(join(dir, name)).size }));
    },
  });
  registry.register({
    name: "FS.Get",
    description: "Reads `len` bytes (-1: the rest) from `offset`: `{data: base64, left}`.",
    params: Type.Object({
      filename: Filename,
      offset: Type.Optional(Type.Integer({ minimum: 0 })),
      len: Type.Optional(Type.Integer({ minimum: -1 })),
    }),
    handler: async (p) => {
      const file = resolveInside(root, p.filename);
      let fh;
      try {
        fh = await open(file, "r");
      } catch {
        throw new CcmError("BAD_ARGUMENT", `failed to open file "${p.filename}"`);
      }
      try {
        const size = (await fh.stat()).size;
        const offset = p.offset ?? 0;
        if (offset > size) throw new CcmError("BAD_ARGUMENT", "illegal offset");
        const len = p.len === undefined || p.len < 0 ? size - offset : Math.min(p.len, size - offset);
        const buf = Buffer.alloc(len);
        await fh.read(buf, 0, len, offset);
        return { data: buf.toString("base64"), left: size - offset - len };
      } finally {
        await fh.close();
      }
    },
  });
  registry.register({
    name: "FS.Put",
    description:
      "Writes base64 `data` at `offset` (0 truncates), or appends with `append`; the file is fsynced.",
    params: Type.Object({
      filename: Filename,
      data: Type.String(),
      offset: Type.Optional(Type.Integer()),
      append: Type.Optional(Type.Boolean()),
    }),
    handler: (p) => {
      const file = resolveInside(root, p.filename);
      const data = Buffer.from(p.data, "base64");
      const offset = p.offset ?? 0;
      const flags = p.append === true || offset < 0 ? "a" : offset === 0 ? "w" : "r+";
      mkdirSync(join(file, ".."), { recursive: true });
      let fd: number;
      try {
        fd = openSync(file, flags, 0o600);
      } catch (e) {
        throw new CcmError("BAD_ARGUMENT", `failed to open file "${p.filename}": ${errorMessage(e)}`);
      }
      try {
        writeSync(fd, data, 0, data.length, flags === "r+" ? offset : null);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      return null;
    },
  });
  registry.register({
    name: "FS.Remove",
    description: "Deletes a file.",
    params: Type.Object({ filename: Filename }),
    handler: (p) => {
      const file = resolveInside(root, p.filename);
      try {
        statSync(file);
      } catch {
        throw new CcmError("BAD_ARGUMENT", `no file "${p.filename}"`);
      }
      rmSync(file);
      return null;
    },
  });
  registry.register({
    name: "FS.Rename",
    description: "Renames `src` to `dst`.",
    params: Type.Object({ src: Filename, dst: Filename }),
    handler: (p) => {
      try {
        renameSync(resolveInside(root, p.src), resolveInside(root, p.dst));
      } catch (e) {
        if (e instanceof CcmError) throw e;
        throw new CcmError("BAD_ARGUMENT", `cannot rename "${p.src}": ${errorMessage(e)}`);
      }
      return null;
    },
  });
}
