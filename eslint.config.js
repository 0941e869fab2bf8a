// ESLint (flat config): typescript-eslint's type-aware recommended rules over the TypeScript in
// src/, test/, bench/, soak/ and examples/ (typed by tsconfig.dev.json), the plain recommended
// ones over the few JavaScript files, and the architectural rules (below). Formatting is
// Prettier's: `npm run lint` runs both.
import tseslint from "typescript-eslint";

// The architectural rules (issue 19; docs/architecture.md):
// - src/parent, src/server and src/cli (the side that drives the engine) may use src/engine's
//   types, but import from it only with `import type`: what both sides need lives below the
//   engine (src/shared, src/state, src/loading).
// - src/server and src/cli use the library only through its public index (`src/index.ts`), and
//   the CLI uses the server only through `src/server/index.ts`.
// - src/store (a conversation's record and chunks) sits beside src/state: it imports only that and src/shared.
const ENGINE = {
  regex: "^(\\.\\./)+engine/",
  allowTypeImports: true,
  message: "src/parent, src/server and src/cli import from src/engine only with `import type` (see eslint.config.js).",
};
const LIBRARY_INTERNALS = {
  regex: "^(\\.\\./)+(parent|scope|worker|protocol|state|store|loading)/",
  message: "src/server and src/cli use the library through its public index, src/index.ts (see eslint.config.js).",
};
const SERVER_INTERNALS = {
  regex: "^\\.\\./server/(?!index\\.js$)",
  message: "src/cli uses the server through src/server/index.ts (see eslint.config.js).",
};
const UPPER_LAYERS = {
  regex: "^(\\.\\./)+(engine|parent|scope|worker|protocol|server|cli)/",
  message:
    "src/store sits beside src/state, below the engine and the parent: it imports only src/state and src/shared (see eslint.config.js).",
};
const restricted = (...patterns) => ["error", { patterns }];

export default tseslint.config(
  {
    ignores: ["build/", "dist/", "node_modules/", "test-artifacts/", "docs/", "test/docs/generated/", "bench/results/", ".cache/"],
  },
  {
    files: ["**/*.ts"],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { project: "./tsconfig.dev.json", tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Methods that implement a Promise-returning interface are `async` so that a throw becomes a rejection.
      "@typescript-eslint/require-await": "off",
      // Validation messages print whatever the caller passed with String(value), on purpose.
      "@typescript-eslint/no-base-to-string": "off",
      // A caught error or an abort reason is passed on as it is, whatever it is.
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingAny: true, allowThrowingUnknown: true }],
      // `_name` marks a binding left unused on purpose (as TypeScript's noUnusedLocals allows).
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_" }],
      // A `let` a closure reads before its one assignment (a context that exists only later) stays a `let`.
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ["test/**/*.ts"],
    rules: {
      // Tests read parsed JSON bodies and page.evaluate's DOM (no DOM library) as `any`; expect() checks the shape.
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-return": "off",
    },
  },
  {
    files: ["src/store/**/*.ts"],
    rules: { "@typescript-eslint/no-restricted-imports": restricted(UPPER_LAYERS) },
  },
  {
    files: ["src/parent/**/*.ts"],
    rules: { "@typescript-eslint/no-restricted-imports": restricted(ENGINE) },
  },
  {
    files: ["src/server/**/*.ts"],
    rules: { "@typescript-eslint/no-restricted-imports": restricted(ENGINE, LIBRARY_INTERNALS) },
  },
  {
    files: ["src/cli/**/*.ts"],
    rules: { "@typescript-eslint/no-restricted-imports": restricted(ENGINE, LIBRARY_INTERNALS, SERVER_INTERNALS) },
  },
  {
    files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    extends: [tseslint.configs.recommended],
  },
);
