#!/usr/bin/env node
// Collects every *.test.ts under src/ and test/, refuses to pass with zero tests, and runs them
// with node's test runner (Node 20 expands no globs and tsx --test alone finds nothing).
import { spawn } from "node:child_process";
import { readdirSync, existsSync } from "node:fs";
import { join } from "node:path";

const roots = ["src", "test"];
const filter = process.argv.slice(2);
const files = roots
  .filter((r) => existsSync(r))
  .flatMap((r) => readdirSync(r, { recursive: true }).map((f) => join(r, String(f))))
  .filter((f) => f.endsWith(".test.ts"))
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)))
  .sort();

if (files.length === 0) {
  console.error("run-tests: no test files found; refusing to pass");
  process.exit(1);
}
const concurrency = process.env.CCM_TEST_CONCURRENCY ?? "4";
const args = [
  "--import",
  "tsx",
  "--test",
  `--test-concurrency=${concurrency}`,
  "--test-reporter=spec",
  ...files,
];
const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
let tail = "";
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString("utf8")).slice(-4096);
});
child.on("close", (code) => {
  if (code !== 0) process.exit(code ?? 1);
  const passed = /ℹ pass (\d+)/.exec(tail);
  if (passed === null || Number(passed[1]) === 0) {
    console.error("run-tests: no test passed; refusing to pass");
    process.exit(1);
  }
});
