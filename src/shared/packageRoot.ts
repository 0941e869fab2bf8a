import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The nearest folder above this module with a package.json: llama-scope's root, whether this
 * runs from dist/ (the package) or from build/src/ (the tests).
 */
export function packageRoot(): string {
  let directory = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(directory, "package.json"))) {
    const parent = path.dirname(directory);
    if (parent === directory)
      throw new Error(`llama-scope's package.json was not found above ${fileURLToPath(import.meta.url)}: reinstall the package.`);
    directory = parent;
  }
  return directory;
}
