import {
  ContextOverflowError,
  DisposedError,
  FunctionResultsError,
  FunctionSchemaError,
  InvalidArgumentError,
  LlamaScopeError,
  SlotCapacityError,
  StateLostError,
  UnknownFunctionError,
  WorkerCrashedError,
} from "../index.js";

/** The `error` object of an OpenAI-style error response. */
export interface ApiErrorBody {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

/**
 * An HTTP request the server refuses, with its status and OpenAI's error fields. Its message
 * says what to change; it is sent as `{ error: { message, type, param, code } }`.
 */
export class ApiError extends LlamaScopeError {
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;

  constructor(
    readonly status: number,
    message: string,
    { type = typeOf(status), param = null, code = null }: { type?: string; param?: string | null; code?: string | null } = {},
  ) {
    super(message);
    this.type = type;
    this.param = param;
    this.code = code;
  }

  get body(): { error: ApiErrorBody } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A body that is not what the endpoint takes: 400, naming the field. */
export function badRequest(message: string, param: string | null = null, code = "invalid_value"): ApiError {
  return new ApiError(400, message, { param, code });
}

/**
 * What a failure means to the client: the library's errors and Fastify's map to their status
 * codes, anything unexpected to a 500 that says no more than that.
 */
export function apiErrorOf(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  // The client went away before its reply started: nobody reads this, and nothing failed.
  if (error instanceof Error && error.name === "AbortError")
    return new ApiError(499, "The client closed the request.", { code: "client_closed_request" });
  if (error instanceof ContextOverflowError)
    return new ApiError(413, error.message, { param: "messages", code: "context_length_exceeded" });
  if (error instanceof InvalidArgumentError) return badRequest(error.message);
  if (error instanceof FunctionSchemaError) return badRequest(error.message, "tools", "invalid_tool_schema");
  if (error instanceof UnknownFunctionError || error instanceof FunctionResultsError) return badRequest(error.message, "messages");
  if (error instanceof SlotCapacityError) return new ApiError(503, `${error.message} Retry later.`, { code: "no_slot" });
  if (error instanceof StateLostError) return new ApiError(500, error.message, { code: "session_lost" });
  if (error instanceof DisposedError || error instanceof WorkerCrashedError)
    return new ApiError(503, "The model is not available (the server is shutting down or its engine stopped). Retry later.", {
      code: "unavailable",
    });
  const fastifyError = error as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (
    typeof fastifyError.statusCode === "number" &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500 &&
    typeof fastifyError.message === "string"
  )
    return new ApiError(fastifyError.statusCode, fastifyMessage(fastifyError.code, fastifyError.message), {
      code: fastifyCode(fastifyError.code),
    });
  return new ApiError(500, "The server failed to handle this request; the failure is logged. Retry, or report it if it persists.", {
    code: "internal_error",
  });
}

function typeOf(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

/** Fastify's messages, where they do not say what to do. */
function fastifyMessage(code: unknown, message: string): string {
  switch (code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return "The request body is larger than this server accepts. Send a shorter prompt or conversation.";
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return "Send the request body as JSON with the header Content-Type: application/json.";
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return "The request body is empty: send a JSON object.";
    default:
      return message.startsWith("Unexpected") || message.includes("JSON") ? `The request body is not valid JSON (${message}).` : message;
  }
}

function fastifyCode(code: unknown): string {
  switch (code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return "request_too_large";
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return "unsupported_media_type";
    default:
      return "invalid_body";
  }
}
