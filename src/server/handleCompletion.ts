import type { FastifyReply, FastifyRequest } from "fastify";
import type { GenerationResult, LlamaScope, PromptOptions } from "../index.js";
import { conversationKey } from "./conversations/conversationKey.js";
import { whileClientWaits } from "./clientRequest.js";
import { respond } from "./replies/respond.js";
import { choiceCountOf } from "./requests/choiceFields.js";
import type { ReplyFormat } from "./replies/replyFormats.js";
import { checkPlatformFields } from "./requests/platformFields.js";
import { booleanField, type Body } from "./requests/requestFields.js";
import type { ServerContext } from "./ServerContext.js";
import type { SessionOutcome } from "./metrics/ServerMetrics.js";
import { sessionHeaders, sessionIdOf } from "./requests/sessionHeader.js";
import type { SessionTurn } from "./conversations/SessionStore.js";

/** How one endpoint turns its request into a prompt on a scope. */
export interface CompletionSpec {
  endpoint: "chat" | "completions";
  body: Body;
  options: PromptOptions;
  format: ReplyFormat;
  /** A new scope holding the request's conversation, and the prompt to send it. */
  fresh(): { scope: LlamaScope; prompt: string };
  /** The prompt that continues a session's `scope`, or undefined when the request is another conversation. */
  continuation(scope: LlamaScope): Promise<string | undefined>;
  /** Chat requests: their conversation, by which scopes are reused across requests without a session. */
  conversation?: ConversationKeys;
}

/** A chat request's conversation as {@link conversationKey}s. */
export interface ConversationKeys {
  /** The key of the messages before the last one, which a scope must hold to answer it; undefined when there are none. */
  before: string | undefined;
  /** The last message: what a scope holding the ones before is sent. */
  prompt: string;
  /** The key of the conversation once `reply` answers the last message. */
  after(reply: string): string;
}

/**
 * Answers a chat or text completion request. Without a session id it runs on a scope of its own:
 * for a chat request whose earlier messages a scope holds already (one kept from an earlier
 * request without a session, or a fork of an idle session's), that scope, sent only the last
 * message, and kept afterwards for the conversation's next request (`StatelessScopes`); else a
 * new one. With a session id (the `X-Session-Id` header), on the session's scope when the
 * request continues it, or else on a new scope that becomes the session's. A session's request
 * first waits for its session's earlier requests (in the session's own queue), then for a place
 * in the admission queue, so a session holds at most one place there however many requests it
 * sends. A client that goes away stops its generation.
 */
export async function handleCompletion(
  context: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  spec: CompletionSpec,
): Promise<unknown> {
  context.assertServing();
  const sessionId = sessionIdOf(request);
  checkPlatformFields(spec.body, spec.endpoint); // user, store, metadata, …: checked, then ignored
  const stream = booleanField(spec.body, "stream") ?? false;
  const headers = sessionHeaders(sessionId);
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);

  return whileClientWaits(context, reply, async (signal) => {
    const choices = choiceCountOf(spec.body);
    const plan = {
      reply,
      signal,
      stream,
      format: spec.format,
      headers,
      log: context.options.log,
      choices,
      endpoint: spec.endpoint,
    };
    const answer = async (
      scope: LlamaScope,
      prompt: string,
      session: SessionOutcome,
      generated?: (result: GenerationResult) => Promise<void>,
    ) => {
      const { result, body } = await respond(scope, prompt, spec.options, { ...plan, ...(generated === undefined ? {} : { generated }) });
      if (result !== undefined) context.metrics.generation(spec.endpoint, session, result);
      return body ?? reply; // a streamed reply was sent already
    };
    /** Runs `work` once the admission queue lets it: one place per running generation. */
    const admitted = async <T>(work: () => Promise<T>): Promise<T> => {
      const release = await context.admission.enter(signal);
      try {
        return await work();
      } finally {
        release();
      }
    };
    const { conversation } = spec;
    if (sessionId === undefined)
      return await admitted(async () => {
        const reused = conversation?.before === undefined ? undefined : await context.stateless.take(conversation.before);
        context.metrics.stateless(reused?.reuse ?? "fresh");
        const { scope, prompt } = reused === undefined ? spec.fresh() : { scope: reused.scope, prompt: conversation!.prompt };
        /** Set once the scope is handed to the pool, which keeps or disposes it. */
        let handedOver = false;
        const keep =
          conversation === undefined
            ? undefined
            : async (result: GenerationResult) => {
                // An aborted reply's client never got it, and will not send it back.
                if (result.finishReason === "aborted") return;
                handedOver = true;
                await context.stateless.keep(scope, conversation.after(result.text));
              };
        try {
          return await answer(scope, prompt, "none", keep);
        } finally {
          // A kept scope whose request failed before it changed anything (a message too long, say)
          // goes back for the conversation's next request; the pool checks that it is unchanged.
          if (!handedOver) {
            if (reused !== undefined && conversation?.before !== undefined) await context.stateless.keep(scope, conversation.before);
            else await scope.dispose();
          }
        }
      });
    return await context.sessions.use(sessionId, signal, (session) =>
      admitted(async () => {
        const index = conversation === undefined || !context.stateless.enabled ? undefined : offered(context, session);
        // With a conversation store, the turn is written before the response's last byte.
        const generated = async (result: GenerationResult) => {
          await index?.(result);
          await session.commit();
        };
        const continued = session.scope === undefined ? undefined : await spec.continuation(session.scope);
        if (continued !== undefined) return answer(session.scope!, continued, "continued", generated);
        const { scope, prompt } = spec.fresh();
        await session.replace(scope);
        return answer(scope, prompt, "started", generated);
      }),
    );
  });
}

/**
 * After a session's request: tells the session which conversation its scope holds now, so that a
 * request without a session sending exactly it may fork the scope (never one a shift touched).
 */
function offered(context: ServerContext, session: SessionTurn): (result: GenerationResult) => Promise<void> {
  return async () => {
    const scope = session.scope;
    try {
      session.holds(scope === undefined || context.shifts.has(scope.id) ? undefined : conversationKey(await scope.getChatHistory()));
    } catch {
      session.holds(undefined);
    }
  };
}
