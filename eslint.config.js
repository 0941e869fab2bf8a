// ESLint (flat config): typescript-eslint's type-aware recommended rules over the TypeScript in
// src/, test/, bench/, soak/ and examples/ (typed by tsconfig.dev.json), the plain recommended
// ones over the few JavaScript files, and one architectural rule (below). Formatting is
// Prettier's: `npm run lint` runs both.
import tseslint from "typescript-eslint";

// The architectural rule: src/parent, src/server and src/cli (the side that drives the engine)
// may use src/engine's types, but import from it only with `import type`. The files below broke
// the rule when it was written (issue 19); each may keep a value import of exactly the engine
// modules listed, and nothing else: a value import of any other engine module, or from any other
// file, fails. Shrink this list as the code moves; do not grow it.
const ENGINE_VALUE_IMPORTS_ALLOWED = {
  "src/parent/InitOptions.ts": ["validate.js"],
  "src/parent/LlamaLoad.ts": ["LlamaLoadOptions.js", "plainData.js", "validate.js"],
  "src/parent/LlamaParent.ts": [
    "LlamaLoadOptions.js",
    "LoadProgress.js",
    "modelSource.js",
    "promptLength.js",
    "state/StateFormat.js",
    "state/ownedDirectories.js",
    "state/stateFit.js",
  ],
  "src/parent/PrefixCacheOptions.ts": ["validate.js"],
  "src/parent/ScopeMemories.ts": ["LlamaLoadOptions.js", "state/StateFormat.js"],
  "src/parent/ScratchDirectory.ts": ["state/ownedDirectories.js"],
  "src/parent/SlotScheduler.ts": ["SerialQueue.js", "state/StateFormat.js"],
  "src/parent/SpillFile.ts": ["SerialQueue.js", "state/ownedDirectories.js"],
  "src/server/SessionStore.ts": ["LruMap.js"],
  "src/server/StateDirectory.ts": ["SerialQueue.js"],
};

const ENGINE_MODULE = "^(\\.\\./)+engine/";
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const engineImports = (allowed = []) => [
  "error",
  {
    patterns: [
      {
        regex: allowed.length === 0 ? ENGINE_MODULE : `${ENGINE_MODULE}(?!(${allowed.map(escape).join("|")})$)`,
        allowTypeImports: true,
        message: "src/parent, src/server and src/cli import from src/engine only with `import type` (see eslint.config.js).",
      },
    ],
  },
];

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
    files: ["src/parent/**/*.ts", "src/server/**/*.ts", "src/cli/**/*.ts"],
    rules: { "@typescript-eslint/no-restricted-imports": engineImports() },
  },
  ...Object.entries(ENGINE_VALUE_IMPORTS_ALLOWED).map(([file, modules]) => ({
    files: [file],
    rules: { "@typescript-eslint/no-restricted-imports": engineImports(modules) },
  })),
  {
    files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    extends: [tseslint.configs.recommended],
  },
);
