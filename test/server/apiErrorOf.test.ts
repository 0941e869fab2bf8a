import { describe, expect, test } from "@jest/globals";
import {
  ContextOverflowError,
  DisposedError,
  InvalidArgumentError,
  SlotCapacityError,
  StateLostError,
  StateMismatchError,
  WorkerCrashedError,
} from "../../src/index.js";
import { ApiError, apiErrorOf, badRequest } from "../../src/server/ApiError.js";

/** An error as Fastify makes them: a status and an FST_ERR code. */
function fastifyError(statusCode: number, code: string, message: string): Error {
  return Object.assign(new Error(message), { statusCode, code });
}

const INTERNAL = { status: 500, type: "server_error", code: "internal_error" };

describe("apiErrorOf", () => {
  test("an ApiError is sent as it is", () => {
    const error = new ApiError(404, "No such route.", { code: "not_found" });
    expect(apiErrorOf(error)).toBe(error);
  });

  test("an abort (the client went away) is a 499", () => {
    // By name, as a signal's DOMException is told apart. (Not a DOMException itself here: under
    // Jest's VM context, Node's DOMException is not an instance of the test's Error.)
    expect(apiErrorOf(Object.assign(new Error("aborted"), { name: "AbortError" }))).toMatchObject({
      status: 499,
      code: "client_closed_request",
    });
  });

  test("the library's errors map to their status and OpenAI code, keeping the message that says what to do", () => {
    expect(apiErrorOf(new ContextOverflowError("Too long: shorten it."))).toMatchObject({
      status: 413,
      type: "invalid_request_error",
      param: "messages",
      code: "context_length_exceeded",
      message: "Too long: shorten it.",
    });
    expect(apiErrorOf(new InvalidArgumentError("temperature must be ≥ 0."))).toMatchObject({
      status: 400,
      type: "invalid_request_error",
      param: null,
      code: "invalid_value",
      message: "temperature must be ≥ 0.",
    });
    expect(apiErrorOf(new SlotCapacityError("All 2 slots are taken."))).toMatchObject({
      status: 503,
      type: "server_error",
      code: "no_slot",
      message: "All 2 slots are taken. Retry later.",
    });
    expect(apiErrorOf(new StateLostError("The conversation is lost."))).toMatchObject({
      status: 500,
      code: "session_lost",
      message: "The conversation is lost.",
    });
  });

  test("a disposed or crashed engine is a 503 that does not leak the engine's message", () => {
    for (const error of [new DisposedError("internal detail"), new WorkerCrashedError("internal detail")]) {
      const api = apiErrorOf(error);
      expect(api).toMatchObject({ status: 503, code: "unavailable" });
      expect(api.message).not.toContain("internal detail");
    }
  });

  test("Fastify's 4xx keep their status, with a message that says what to do", () => {
    expect(apiErrorOf(fastifyError(413, "FST_ERR_CTP_BODY_TOO_LARGE", "Request body is too large"))).toMatchObject({
      status: 413,
      code: "request_too_large",
      message: expect.stringMatching(/Send a shorter/),
    });
    expect(apiErrorOf(fastifyError(415, "FST_ERR_CTP_INVALID_MEDIA_TYPE", "Unsupported Media Type"))).toMatchObject({
      status: 415,
      code: "unsupported_media_type",
      message: expect.stringMatching(/Content-Type: application\/json/),
    });
    expect(apiErrorOf(fastifyError(400, "FST_ERR_CTP_EMPTY_JSON_BODY", "Body cannot be empty"))).toMatchObject({
      status: 400,
      code: "invalid_body",
      message: "The request body is empty: send a JSON object.",
    });
    expect(apiErrorOf(fastifyError(400, "FST_ERR_CTP_INVALID_JSON_BODY", "Unexpected token } in JSON at position 9")).message).toBe(
      "The request body is not valid JSON (Unexpected token } in JSON at position 9).",
    );
    expect(apiErrorOf(fastifyError(400, "FST_ERR_OTHER", "Some other problem."))).toMatchObject({
      status: 400,
      code: "invalid_body",
      message: "Some other problem.",
    });
  });

  test("anything else is a 500 that says no more than that: not the error's own message", () => {
    for (const error of [
      new Error("secret path /home/x"),
      new StateMismatchError("secret"),
      fastifyError(500, "FST_ERR_X", "secret"),
      "a string",
      { statusCode: 404 },
    ]) {
      const api = apiErrorOf(error);
      expect(api).toMatchObject(INTERNAL);
      expect(api.message).not.toMatch(/secret/);
    }
  });

  test("the body is OpenAI's error object", () => {
    expect(apiErrorOf(badRequest("stop must be a string.", "stop")).body).toEqual({
      error: { message: "stop must be a string.", type: "invalid_request_error", param: "stop", code: "invalid_value" },
    });
    expect(new ApiError(401, "Send a key.").body.error).toMatchObject({ type: "authentication_error", code: null });
    expect(new ApiError(429, "Busy.").type).toBe("rate_limit_error");
  });
});
