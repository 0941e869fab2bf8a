// The X-Session-Id header is read from the raw name/value pairs: a request from Fastify's inject()
// (light-my-request) has no headersDistinct, and must be read as one from the network.
// (Jest cannot load light-my-request itself on Node 20: its cookie dependency is ESM-only.)
import { expect, test } from "@jest/globals";
import type { FastifyRequest } from "fastify";
import { ApiError } from "../../src/server/ApiError.js";
import { sessionIdOf } from "../../src/server/requests/sessionHeader.js";

/** A request as light-my-request builds it: headers and rawHeaders, and no headersDistinct. */
const injected = (rawHeaders: string[]) => ({ raw: { rawHeaders, headers: {} } }) as unknown as FastifyRequest;

test("no X-Session-Id: no session; one, in any case of the name: that session", () => {
  expect(sessionIdOf(injected(["content-type", "application/json"]))).toBeUndefined();
  expect(sessionIdOf(injected(["X-Session-Id", "abc"]))).toBe("abc");
  expect(sessionIdOf(injected(["x-session-id", "abc", "Host", "example"]))).toBe("abc");
});

test("two X-Session-Id headers are refused, not joined into a third id", () => {
  const twice = () => sessionIdOf(injected(["X-Session-Id", "one", "x-session-id", "two"]));
  expect(twice).toThrow(ApiError);
  expect(twice).toThrow("2 X-Session-Id headers");
});
