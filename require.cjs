// What `require("llama-scope")` loads (the "require" condition of package.json's exports): the
// package is ES modules only, like node-llama-cpp under it, so CommonJS code gets this message
// instead of Node's ERR_PACKAGE_PATH_NOT_EXPORTED, which does not say what to do.
const error = new Error(
  'llama-scope is an ES module package and cannot be loaded with require(). Use import { LlamaParent } from "llama-scope" ' +
    'in an ES module (a .mjs file, or "type": "module" in package.json), or from CommonJS: const { LlamaParent } = await import("llama-scope").',
);
error.code = "ERR_REQUIRE_ESM";
throw error;
