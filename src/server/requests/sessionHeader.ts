import type { FastifyRequest } from "fastify";
import { badRequest } from "../ApiError.js";
import { SessionStore } from "../conversations/SessionStore.js";

/**
 * The session a request continues: its `X-Session-Id` header, or undefined without one. Only the
 * header names a session: OpenAI's `user` field identifies an end user (for abuse tracking), and
 * one user has many conversations. Two `X-Session-Id` headers are refused rather than joined
 * (Node joins repeated headers with ", ", which would make a third id).
 */
export function sessionIdOf(request: FastifyRequest): string | undefined {
  const values = headerValues(request.raw.rawHeaders, "x-session-id");
  if (values.length === 0) return undefined;
  if (values.length > 1)
    throw badRequest(
      `The request has ${values.length} X-Session-Id headers: send one, naming the session to continue.`,
      null,
      "invalid_session_id",
    );
  return SessionStore.checkId(values[0], "X-Session-Id");
}

/**
 * The response headers that echo a session id: `X-Session-Id` when the id is printable ASCII;
 * none otherwise. Node reads a header's bytes as Latin-1 but writes header strings as UTF-8 (and
 * refuses characters above U+00FF), so any other id would come back as other bytes, or fail the
 * reply. Echoing only what comes back unchanged, a header can never fail a reply.
 */
export function sessionHeaders(sessionId: string | undefined): Record<string, string> {
  if (sessionId === undefined || !/^[\u0020-\u007e]+$/.test(sessionId)) return {};
  return { "x-session-id": sessionId };
}

/**
 * Every value a header was sent with, from the raw name/value pairs (names case-insensitive).
 * Not `headersDistinct`: Fastify's `inject()` (light-my-request) has no such field, and a request
 * injected in a test must work as one from the network.
 */
function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) values.push(rawHeaders[i + 1]!);
  return values;
}
