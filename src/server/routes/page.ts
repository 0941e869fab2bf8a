import { readFileSync } from "node:fs";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { packageRoot } from "../../shared/packageRoot.js";

/**
 * The chat page's files, plain HTML, CSS and JavaScript without a build step. They live in
 * src/server/public/ of the package (shipped by `npm pack`), found from the package root, so the
 * compiled server finds them from dist/ and from the tests' build/ alike.
 */
const FILES: Record<string, string> = {
  "/": "index.html",
  "/chat.js": "chat.js",
  "/chat.css": "chat.css",
};
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/** `GET /`, `/chat.js`, `/chat.css`: the chat page. */
export function pageRoute(app: FastifyInstance): void {
  const directory = path.join(packageRoot(), "src", "server", "public");
  for (const [url, name] of Object.entries(FILES)) {
    // Read once: the files are small and never change while the server runs.
    const content = readFileSync(path.join(directory, name));
    const type = TYPES[path.extname(name)]!;
    app.get(url, async (_, reply) => reply.type(type).header("cache-control", "no-cache").send(content));
  }
}
