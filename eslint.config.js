// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "dist-check/", "node_modules/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ["*.js", "scripts/*.mjs", "test/helpers/*.mjs"] },
      },
    },
    rules: {
      "@typescript-eslint/restrict-template-expressions": [
        "error",
        { allowNumber: true, allowBoolean: true },
      ],
      "@typescript-eslint/no-unnecessary-condition": ["error", { allowConstantLoopConditions: true }],
      "max-lines": ["warn", { max: 500, skipBlankLines: true, skipComments: true }],
      // noUncheckedIndexedAccess makes indexed reads optional; `!` after a bounds check is the idiom.
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    files: ["src/rpc/**/*.ts", "src/framing/**/*.ts", "src/errors.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/transports/*", "**/channels/*", "**/daemon/*", "**/cli/*", "**/sim/*"],
              message: "layers import downward only (DESIGN.md)",
            },
            {
              group: ["node:net", "node:fs", "node:fs/promises", "node:child_process"],
              message: "rpc/ and framing/ do no I/O",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.test.ts", "test/**/*.ts", "bench/**/*.ts"],
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", name: ["test", "it", "describe", "suite"], package: "node:test" },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
);
