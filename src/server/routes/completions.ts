import type { FastifyInstance } from "fastify";
import { badRequest } from "../ApiError.js";
import { generateOptionsOf } from "../requests/generateOptions.js";
import { handleCompletion } from "../handleCompletion.js";
import { textFormat } from "../replies/replyFormats.js";
import { objectBody } from "../requests/requestFields.js";
import type { ServerContext } from "../ServerContext.js";

/** `POST /v1/completions`: plain text continued as sent; a session's prompts append to its text. */
export function completionsRoute(app: FastifyInstance, context: ServerContext): void {
  app.post("/v1/completions", async (request, reply) => {
    const body = objectBody(request.body);
    const prompt = promptOf(body.prompt);
    return handleCompletion(context, request, reply, {
      endpoint: "completions",
      body,
      options: generateOptionsOf(body, "completions"),
      format: textFormat(context.modelId),
      fresh: () => ({ scope: context.parent.getScope({ mode: "completion" }), prompt }),
      continuation: async (scope) => (scope.mode === "completion" ? prompt : undefined),
    });
  });
}

/** One prompt, as a string or an array holding one string (token arrays and batches are refused). */
function promptOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.length === 1 && typeof value[0] === "string") return value[0];
  throw badRequest("prompt must be a string (one prompt per request; token arrays are not taken).", "prompt");
}
