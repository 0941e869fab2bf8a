import type { FastifyInstance } from "fastify";
import { ApiError, badRequest } from "../ApiError.js";
import type { ChatHistoryItem, PromptOptions } from "../../index.js";
import { chatTurnsOf, continuationOf, responseText, trimmedToFit, type ChatTurns } from "../requests/chatMessages.js";
import { conversationKey } from "../conversations/conversationKey.js";
import { generateOptionsOf } from "../requests/generateOptions.js";
import { handleCompletion } from "../handleCompletion.js";
import { chatFormat } from "../replies/replyFormats.js";
import { choiceCountOf } from "../requests/choiceFields.js";
import { objectBody } from "../requests/requestFields.js";
import { toolOptionsOf } from "../requests/toolOptions.js";
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
    const earlier = historyOf(turns);
    const options: PromptOptions = {
      ...generateOptionsOf(body, "chat"),
      ...toolOptionsOf(body),
      ...(turns.functionResults === undefined ? {} : { functionResults: turns.functionResults }),
    };
    assertOneToolReply(body, options);
    return handleCompletion(context, request, reply, {
      endpoint: "chat",
      body,
      options,
      format: chatFormat(context.modelId),
      fresh: () => ({
        scope: context.parent.getScope({
          mode: "chat",
          ...(fits.systemPrompt === undefined ? {} : { systemPrompt: fits.systemPrompt }),
          history: fits.prior,
          // One client's conversation is sent from its start once (its next request continues the
          // scope that answers this one): only a start sent again, a template, takes an entry.
          cacheHistory: fits.prior.length > 0 && context.sightings.again(conversationKey(historyOf(fits))),
        }),
        prompt: fits.prompt,
      }),
      continuation: async (scope) => (scope.mode === "chat" ? continuationOf(await scope.getChatHistory(), turns) : undefined),
      // Conversations with function calls are not kept for reuse: a kept scope holds its calls'
      // arguments as generated, a new one renders them from the request's JSON, and the two could
      // reply otherwise.
      ...(hasFunctionCalls(turns, options)
        ? {}
        : {
            conversation: {
              before: turns.prior.length === 0 ? undefined : conversationKey(earlier),
              prompt: turns.prompt,
              after: (text: string) =>
                conversationKey([...earlier, { type: "user", text: turns.prompt }, { type: "model", response: [text] }]),
            },
          }),
    });
  });
}

/**
 * A reply that may call a function, or goes on after a function's result, is one reply: the
 * library forks no function turn (`generateChoices` takes no functions) and reports no
 * log-probabilities for one.
 */
function assertOneToolReply(body: Record<string, unknown>, options: PromptOptions): void {
  if (options.functions === undefined && options.functionResults === undefined) return;
  const why = options.functions !== undefined ? "with tools" : "after a tool message";
  if (choiceCountOf(body) > 1)
    throw badRequest(`n must be 1 ${why}: a reply that may call a function is one reply. Send several requests.`, "n");
  if (options.logprobs !== undefined)
    throw badRequest(`logprobs are not reported ${why}. Leave logprobs out, or send the request without tools.`, "logprobs");
}

function hasFunctionCalls(turns: ChatTurns, options: PromptOptions): boolean {
  if (options.functions !== undefined || options.functionResults !== undefined) return true;
  return turns.prior.some((item) => item.type === "model" && item.response.some((part) => typeof part !== "string"));
}

/** The messages before the last one as a chat history: the system prompt first, if any. */
function historyOf(turns: ChatTurns): ChatHistoryItem[] {
  return turns.systemPrompt === undefined ? turns.prior : [{ type: "system", text: turns.systemPrompt }, ...turns.prior];
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
