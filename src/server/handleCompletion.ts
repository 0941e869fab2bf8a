import type { FastifyReply, FastifyRequest } from "fastify";
import type { GenerateOptions, LlamaScope } from "../index.js";
import { ApiError } from "./ApiError.js";
import { respond } from "./respond.js";
import type { ReplyFormat } from "./replyFormats.js";
import { booleanField, type Body } from "./requestFields.js";
import type { ServerContext } from "./ServerContext.js";
import type { SessionOutcome } from "./ServerMetrics.js";
import { SessionStore } from "./SessionStore.js";

/** How one endpoint turns its request into a prompt on a scope. */
export interface CompletionSpec {
  endpoint: "chat" | "completions";
  body: Body;
  options: GenerateOptions;
  format: ReplyFormat;
  /** A new scope holding the request's conversation, and the prompt to send it. */
  fresh(): { scope: LlamaScope; prompt: string };
  /** The prompt that continues a session's `scope`, or undefined when the request is another conversation. */
  continuation(scope: LlamaScope): Promise<string | undefined>;
}

/**
 * Answers a chat or text completion request. Without a session id it runs on a scope of its own,
 * disposed afterwards; with one (the `X-Session-Id` header, or the `user` field), on the
 * session's scope when the request continues it, or else on a new scope that becomes the
 * session's. The request waits its turn in the admission queue, and a client that goes away
 * stops its generation.
 */
export async function handleCompletion(context: ServerContext, request: FastifyRequest, reply: FastifyReply, spec: CompletionSpec): Promise<unknown> {
  context.assertServing();
  const header = request.headers["x-session-id"];
  const sessionId =
    header !== undefined ? SessionStore.checkId(Array.isArray(header) ? header[0] : header, "X-Session-Id") : spec.body.user == null ? undefined : SessionStore.checkId(spec.body.user, "user");
  const stream = booleanField(spec.body, "stream") ?? false;
  const headers: Record<string, string> = sessionId === undefined ? {} : { "x-session-id": sessionId };
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);

  const client = new AbortController();
  const clientGone = () => {
    if (!reply.raw.writableFinished) client.abort(new DOMException("The client closed the request.", "AbortError"));
  };
  reply.raw.on("close", clientGone);
  context.inFlight.add(client);
  try {
    const release = await context.admission.enter(client.signal);
    try {
      const plan = { reply, signal: client.signal, stream, format: spec.format, headers, log: context.options.log };
      const answer = async (scope: LlamaScope, prompt: string, session: SessionOutcome) => {
        const { result, body } = await respond(scope, prompt, spec.options, plan);
        if (result !== undefined) context.metrics.generation(spec.endpoint, session, result);
        return body ?? reply; // a streamed reply was sent already
      };
      if (sessionId === undefined) {
        const { scope, prompt } = spec.fresh();
        try {
          return await answer(scope, prompt, "none");
        } finally {
          await scope.dispose();
        }
      }
      return await context.sessions.use(sessionId, async (session) => {
        const continued = session.scope === undefined ? undefined : await spec.continuation(session.scope);
        if (continued !== undefined) return answer(session.scope!, continued, "continued");
        const { scope, prompt } = spec.fresh();
        await session.replace(scope);
        return answer(scope, prompt, "started");
      });
    } finally {
      release();
    }
  } catch (error) {
    // Stopped by the server's shutdown rather than by its client: the client is told so.
    if (client.signal.aborted && client.signal.reason instanceof ApiError) throw client.signal.reason;
    throw error;
  } finally {
    context.inFlight.delete(client);
    reply.raw.off("close", clientGone);
  }
}
