/**
 * Which ccm code the benchmarks measure.
 *
 * By default the code as shipped: src/ transpiled by the TypeScript compiler, as `npm run build` emits
 * it into dist/ (the `ccm` bin runs dist/). Running src/*.ts through tsx instead is much slower on
 * the dispatch path, because tsx transpiles with esbuild's `keepNames`, which wraps every named
 * closure in `__name(fn, "name")` (an Object.defineProperty per closure created, so per frame for
 * closures made in a hot function). `BENCH_CCM=tsx` measures that instead.
 *
 * A full `tsc -p tsconfig.build.json` takes ~20 s on the 2-core bench machine, so the build here uses
 * `ts.transpileModule` file by file with the same target (the emit of erasable-syntax-only
 * TypeScript does not depend on type information), into a temporary directory laid out like the
 * package: `<tmp>/package.json`, `<tmp>/node_modules` (a symlink to the repo's) and `<tmp>/dist`.
 */
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Environment variable through which bench/run.ts hands its build to the benchmarks it starts. */
export const BUILD_ENV = "BENCH_CCM_BUILD";

export type CcmFlavour = "dist" | "tsx";

/** The ccm flavour asked for in BENCH_CCM (default dist). */
export function flavour(): CcmFlavour {
  const f = process.env["BENCH_CCM"] ?? "dist";
  if (f !== "dist" && f !== "tsx") throw new Error(`BENCH_CCM must be dist or tsx, got ${JSON.stringify(f)}`);
  return f;
}

/** Transpiles src/ (tests excluded) into a fresh temporary package; returns its root. */
export async function buildCcm(): Promise<string> {
  const { default: ts } = await import("typescript");
  const root = await mkdtemp(join(tmpdir(), "ccm-bench-build-"));
  try {
    const src = join(REPO_ROOT, "src");
    const out = join(root, "dist");
    const entries = await readdir(src, { recursive: true, withFileTypes: true });
    const files = entries
      .filter(
        (e) =>
          e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && !e.name.endsWith(".d.ts"),
      )
      .map((e) => join(e.parentPath, e.name));
    for (const file of files) {
      const text = await readFile(file, "utf8");
      const js = ts.transpileModule(text, {
        fileName: file,
        compilerOptions: {
          target: ts.ScriptTarget.ES2023,
          module: ts.ModuleKind.ES2022,
          verbatimModuleSyntax: true,
          useDefineForClassFields: true,
          sourceMap: false,
        },
      }).outputText;
      const dest = join(out, relative(src, file)).replace(/\.ts$/, ".js");
      await mkdir(dirname(dest), { recursive: true });
      await writeFile(dest, js);
    }
    await copyFile(join(REPO_ROOT, "package.json"), join(root, "package.json"));
    await symlink(join(REPO_ROOT, "node_modules"), join(root, "node_modules"), "dir");
    return root;
  } catch (e) {
    await rm(root, { recursive: true, force: true });
    throw e;
  }
}

/** Removes a build made by buildCcm (only directories it made). */
export async function removeBuild(root: string): Promise<void> {
  if (!relative(tmpdir(), root).startsWith("ccm-bench-build-")) throw new Error(`not a bench build: ${root}`);
  await rm(root, { recursive: true, force: true });
}

/**
 * Imports one ccm module (`rpc/peer`, `sim/host-simulator`…) from the flavour asked for: the build
 * in BENCH_CCM_BUILD (or `root`), or src/ through tsx.
 */
export async function importCcm<T>(module: string, root?: string): Promise<T> {
  if (flavour() === "tsx")
    return (await import(pathToFileURL(join(REPO_ROOT, "src", `${module}.ts`)).href)) as T;
  const base = root ?? process.env[BUILD_ENV];
  if (base === undefined) throw new Error(`no ccm build: set ${BUILD_ENV} or pass a root`);
  return (await import(pathToFileURL(join(base, "dist", `${module}.js`)).href)) as T;
}

/**
 * For a benchmark run alone: uses bench/run.ts's build when there is one, else makes one and
 * returns how to remove it.
 */
export async function ensureBuild(): Promise<{ root: string | undefined; cleanup: () => Promise<void> }> {
  if (flavour() === "tsx") return { root: undefined, cleanup: () => Promise.resolve() };
  const given = process.env[BUILD_ENV];
  if (given !== undefined) return { root: given, cleanup: () => Promise.resolve() };
  // Built in a child process, so that the TypeScript compiler does not sit in the measured heap.
  const root = await buildInChild();
  return { root, cleanup: () => removeBuild(root) };
}

function buildInChild(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx", fileURLToPath(import.meta.url), "--build"],
      { cwd: REPO_ROOT, timeout: 60_000 },
      (err, stdout) => {
        const root = stdout.trim();
        if (err) reject(new Error(`building src/ failed: ${err.message}`, { cause: err }));
        else if (!relative(tmpdir(), root).startsWith("ccm-bench-build-"))
          reject(new Error(`unexpected build output: ${root}`));
        else resolve(root);
      },
    );
  });
}

if (
  process.argv[2] === "--build" &&
  process.argv[1] !== undefined &&
  pathToFileURL(process.argv[1]).href === import.meta.url
) {
  console.log(await buildCcm());
}
