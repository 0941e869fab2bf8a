import type { FastifyReply, FastifyRequest } from "fastify";
import type { LlamaScope, PromptOptions } from "../index.js";
import { ApiError } from "./ApiError.js";
import { respond } from "./respond.js";
import type { ReplyFormat } from "./replyFormats.js";
import { booleanField, stringField, type Body } from "./requestFields.js";
import type { ServerContext } from "./ServerContext.js";
import type { SessionOutcome } from "./ServerMetrics.js";
import { sessionHeaders, sessionIdOf } from "./sessionHeader.js";

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
}

/**
 * Answers a chat or text completion request. Without a session id it runs on a scope of its own,
 * disposed afterwards; with one (the `X-Session-Id` header), on the session's scope when the
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
  stringField(spec.body, "user"); // OpenAI's end-user id: checked, never a session
  const stream = booleanField(spec.body, "stream") ?? false;
  const headers = sessionHeaders(sessionId);
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);

  const client = new AbortController();
  const clientGone = () => {
    if (!reply.raw.writableFinished) client.abort(new DOMException("The client closed the request.", "AbortError"));
  };
  reply.raw.on("close", clientGone);
  context.inFlight.add(client);
  const plan = { reply, signal: client.signal, stream, format: spec.format, headers, log: context.options.log };
  const answer = async (scope: LlamaScope, prompt: string, session: SessionOutcome) => {
    const { result, body } = await respond(scope, prompt, spec.options, plan);
    if (result !== undefined) context.metrics.generation(spec.endpoint, session, result);
    return body ?? reply; // a streamed reply was sent already
  };
  /** Runs `work` once the admission queue lets it: one place per running generation. */
  const admitted = async <T>(work: () => Promise<T>): Promise<T> => {
    const release = await context.admission.enter(client.signal);
    try {
      return await work();
    } finally {
      release();
    }
  };
  try {
    if (sessionId === undefined)
      return await admitted(async () => {
        const { scope, prompt } = spec.fresh();
        try {
          return await answer(scope, prompt, "none");
        } finally {
          await scope.dispose();
        }
      });
    return await context.sessions.use(sessionId, client.signal, (session) =>
      admitted(async () => {
        const continued = session.scope === undefined ? undefined : await spec.continuation(session.scope);
        if (continued !== undefined) return answer(session.scope!, continued, "continued");
        const { scope, prompt } = spec.fresh();
        await session.replace(scope);
        return answer(scope, prompt, "started");
      }),
    );
  } catch (error) {
    // Stopped by the server's shutdown rather than by its client: the client is told so.
    if (client.signal.aborted && client.signal.reason instanceof ApiError) throw client.signal.reason;
    throw error;
  } finally {
    context.inFlight.delete(client);
    reply.raw.off("close", clientGone);
  }
}
