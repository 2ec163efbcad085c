// Lint rules for the whole repo. The boundary rules enforce DESIGN.md's dependency rule.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

export default tseslint.config(
  { ignores: ["**/dist/**", "**/node_modules/**", "natter-data/**", "bench/tmp/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  {
    // domain/ holds the rules and sees only the Store and Bus interfaces.
    files: ["packages/server/src/domain/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["**/http/**", "**/realtime/**", "**/auth/**", "fastify", "ws"], message: "domain/ must not depend on transports" },
            { group: ["**/store/sqlite/**", "**/store/postgres/**", "better-sqlite3", "pg"], message: "domain/ sees only store/store.ts" },
            { group: ["**/bus/memory/**", "**/bus/redis/**", "ioredis"], message: "domain/ sees only bus/bus.ts" },
          ],
        },
      ],
    },
  },
  {
    // Only the composition root picks implementations.
    files: ["packages/server/src/**/*.ts"],
    ignores: ["packages/server/src/compose.ts", "packages/server/src/main.ts", "packages/server/src/**/*.test.ts", "packages/server/src/store/**", "packages/server/src/bus/**", "packages/server/src/test-support/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["**/store/sqlite/**", "**/store/postgres/**", "**/bus/memory/**", "**/bus/redis/**"], message: "only compose.ts picks concrete implementations" },
          ],
        },
      ],
    },
  },
  {
    // SDK packages never import the server.
    files: ["packages/common/**/*.ts", "packages/chat/**/*.ts", "packages/identity/**/*.ts", "packages/web/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [{ group: ["@natter/server", "**/server/**"], message: "SDKs use only the wire" }] }] },
  },
);
