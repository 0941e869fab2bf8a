import type { FastifyInstance } from "fastify";
import { ApiError } from "../ApiError.js";
import { chatTurnsOf, continuationOf, responseText, trimmedToFit, type ChatTurns } from "../chatMessages.js";
import { generateOptionsOf } from "../generateOptions.js";
import { handleCompletion } from "../handleCompletion.js";
import { chatFormat } from "../replyFormats.js";
import { objectBody } from "../requestFields.js";
import { toolOptionsOf } from "../toolOptions.js";
import type { ServerContext } from "../ServerContext.js";

/** `POST /v1/chat/completions`: a chat scope per conversation, continued by session. */
export function chatCompletionsRoute(app: FastifyInstance, context: ServerContext): void {
  app.post("/v1/chat/completions", async (request, reply) => {
    const body = objectBody(request.body);
    assertMessageCount(context, body.messages);
    const turns = chatTurnsOf(body.messages);
    assertTurnsFit(context, turns);
    // A new scope needs no exchange it would leave out anyway (a continued one reads the request whole).
    const fits = trimmedToFit(turns, context.parent.modelInfo?.maxPromptLength ?? Infinity);
    return handleCompletion(context, request, reply, {
      endpoint: "chat",
      body,
      options: {
        ...generateOptionsOf(body, "chat"),
        ...toolOptionsOf(body),
        ...(turns.functionResults === undefined ? {} : { functionResults: turns.functionResults }),
      },
      format: chatFormat(context.modelId),
      fresh: () => ({
        scope: context.parent.getScope({
          mode: "chat",
          ...(fits.systemPrompt === undefined ? {} : { systemPrompt: fits.systemPrompt }),
          history: fits.prior,
        }),
        prompt: fits.prompt,
      }),
      continuation: async (scope) => (scope.mode === "chat" ? continuationOf(await scope.getChatHistory(), turns) : undefined),
    });
  });
}

/**
 * More messages than `maxMessages` are refused before any is read: reading, rendering and
 * tokenizing a conversation is work done for the request before it generates, and other
 * sessions' requests wait for it.
 */
function assertMessageCount(context: ServerContext, messages: unknown): void {
  const limit = context.options.maxMessages;
  if (Array.isArray(messages) && messages.length > limit)
    throw new ApiError(
      413,
      `messages has ${messages.length} messages; this server takes at most ${limit} in one request (its --max-messages, or the maxMessages option). Send fewer: a session (X-Session-Id) needs only the new message.`,
      { param: "messages", code: "too_many_messages" },
    );
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
    ...turns.prior.map((item, i): [string, string] => [
      `message ${i + 1}`,
      item.type === "user" ? item.text : item.type === "model" ? responseText(item.response) : "",
    ]),
  ];
  for (const [what, text] of texts)
    if (text.length > limit)
      throw new ApiError(
        413,
        `${what} is ${text.length} characters long and can never fit in a slot of this model, which takes at most ${limit}. Shorten it.`,
        {
          param: "messages",
          code: "context_length_exceeded",
        },
      );
}
