#!/usr/bin/env node
/** Entry point of the `ccm` binary. */
import { buildProgram } from "./program.js";
import { CliError } from "./output.js";

buildProgram()
  .parseAsync(process.argv)
  .catch((e: unknown) => {
    const code = e instanceof CliError ? e.exitCode : 1;
    process.stderr.write(`ccm: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = code;
  });
