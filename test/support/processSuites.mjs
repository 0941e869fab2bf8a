// `npm run test:process`: runs again, with isolation: "process", every suite that starts its
// parents through the test isolation (support/parents.ts: startParent or testIsolation), so that
// a new scope suite cannot leave process mode out. A suite whose parents all name their own
// isolation says so on a line of its own, `// Runs under its own isolations.`, and is left out.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const sources = path.join(root, "test");
const suites = readdirSync(sources, { recursive: true, encoding: "utf8" })
  .filter((name) => name.endsWith(".test.ts"))
  .filter((name) => {
    const text = readFileSync(path.join(sources, name), "utf8");
    return /\b(startParent|testIsolation)\(/.test(text) && !/^\/\/ Runs under its own isolations\.$/m.test(text);
  })
  .sort()
  .map((name) => path.join("build", "test", name.replace(/\.ts$/, ".js")));
if (suites.length === 0)
  throw new Error("No suite starts parents through test/support/parents.ts: the process-mode run would test nothing.");
console.log(
  `Process isolation: ${suites.length} suites (${suites.map((suite) => path.relative(path.join("build", "test"), suite).replace(/\.test\.js$/, "")).join(", ")})`,
);
const jest = path.join(root, "node_modules", "jest", "bin", "jest.js");
const run = spawnSync(process.execPath, [jest, ...suites], {
  cwd: root,
  stdio: "inherit",
  env: {
    ...process.env,
    LLAMA_SCOPE_TEST_ISOLATION: "process",
    NODE_OPTIONS: "--experimental-vm-modules --no-warnings=ExperimentalWarning",
  },
});
process.exit(run.status ?? 1);
