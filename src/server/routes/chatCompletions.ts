import type { FastifyInstance } from "fastify";
import { ApiError } from "../ApiError.js";
import { chatTurnsOf, continuationOf, type ChatTurns } from "../chatMessages.js";
import { generateOptionsOf } from "../generateOptions.js";
import { handleCompletion } from "../handleCompletion.js";
import { chatFormat } from "../replyFormats.js";
import { objectBody } from "../requestFields.js";
import type { ServerContext } from "../ServerContext.js";

/** `POST /v1/chat/completions`: a chat scope per conversation, continued by session. */
export function chatCompletionsRoute(app: FastifyInstance, context: ServerContext): void {
  app.post("/v1/chat/completions", async (request, reply) => {
    const body = objectBody(request.body);
    const turns = chatTurnsOf(body.messages);
    assertTurnsFit(context, turns);
    return handleCompletion(context, request, reply, {
      endpoint: "chat",
      body,
      options: generateOptionsOf(body, "chat"),
      format: chatFormat(context.modelId),
      fresh: () => ({
        scope: context.parent.getScope({ mode: "chat", ...(turns.systemPrompt === undefined ? {} : { systemPrompt: turns.systemPrompt }), history: turns.prior }),
        prompt: turns.prompt,
      }),
      continuation: async (scope) => (scope.mode === "chat" ? continuationOf(await scope.getChatHistory(), turns) : undefined),
    });
  });
}

/**
 * A message longer than a slot can ever hold is refused before anything tokenizes it (the
 * library's prompt guard covers the prompt itself; this covers the system prompt and history).
 */
function assertTurnsFit(context: ServerContext, turns: ChatTurns): void {
  const limit = context.parent.modelInfo?.maxPromptLength;
  if (limit === undefined) return;
  const texts: [string, string][] = [
    ...(turns.systemPrompt === undefined ? [] : [["the system prompt", turns.systemPrompt] as [string, string]]),
    ...turns.prior.map((item, i): [string, string] => [`message ${i + 1}`, item.type === "user" ? item.text : item.type === "model" ? item.response.join("") : ""]),
  ];
  for (const [what, text] of texts)
    if (text.length > limit)
      throw new ApiError(413, `${what} is ${text.length} characters long and can never fit in a slot of this model, which takes at most ${limit}. Shorten it.`, {
        param: "messages",
        code: "context_length_exceeded",
      });
}
