import { MissingDependencyError } from "../shared/errors/index.js";
import { isMissingPackage } from "../shared/missingPackage.js";

/** What `serve` needs of `llama-scope/server`. */
export type ServerModule = typeof import("../server/index.js");

/**
 * Imports the server only when `serve` runs. fastify is an optional peer dependency, so that a
 * library user's install has no web server in it (and no warnings from its dependencies); a
 * server user installs it beside llama-scope, and is told so here in one line instead of by a
 * module-resolution stack trace.
 */
export async function loadServer(importServer: () => Promise<ServerModule> = () => import("../server/index.js")): Promise<ServerModule> {
  try {
    return await importServer();
  } catch (error) {
    if (isMissingPackage(error, "fastify"))
      throw new MissingDependencyError(
        "serve needs the fastify package, which llama-scope does not install for library users: " +
          "run `npm install fastify` beside llama-scope, or `npx -p llama-scope -p fastify llama-scope serve …`.",
        { cause: error },
      );
    throw error;
  }
}
