import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { ApiError } from "./ApiError.js";

/**
 * Requires `Authorization: Bearer <apiKey>` on every `/v1/` route. The scheme's name is
 * case-insensitive (RFC 9110 §11.1: `bearer` is `Bearer`), and a 401 carries
 * `WWW-Authenticate: Bearer` (RFC 6750 §3), so clients know which scheme to answer with.
 */
export function requireApiKey(app: FastifyInstance, apiKey: string): void {
  const expected = digest(apiKey);
  app.addHook("onRequest", async (request, reply) => {
    // By the route matched, not the raw URL: no spelling of a /v1/ path gets past the key.
    if (!request.routeOptions.url?.startsWith("/v1/")) return;
    const header = request.headers.authorization;
    const given = typeof header === "string" ? /^bearer[ \t]+(\S.*)$/i.exec(header.trim())?.[1]?.trim() : undefined;
    if (given === undefined) {
      reply.header("www-authenticate", 'Bearer realm="llama-scope"');
      throw new ApiError(401, "This server needs an API key: send the header Authorization: Bearer <key>.", { code: "missing_api_key" });
    }
    // Compared as digests of equal length, in constant time: the key's length and prefix leak nothing.
    if (!timingSafeEqual(digest(given), expected)) {
      reply.header("www-authenticate", 'Bearer realm="llama-scope", error="invalid_token"');
      throw new ApiError(401, "The API key is wrong: send the key the server was started with.", { code: "invalid_api_key" });
    }
  });
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
