import type { FastifyReply } from "fastify";
import { ApiError } from "./ApiError.js";
import type { ServerContext } from "./ServerContext.js";

/**
 * Runs a request's work with a signal that aborts when its client goes away (the connection
 * closes before the reply is written) or when the server shuts down (`context.inFlight`). A
 * request stopped by the shutdown rather than by its client rejects with the shutdown's
 * `ApiError`, so the client is told why.
 */
export async function whileClientWaits<T>(
  context: ServerContext,
  reply: FastifyReply,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const client = new AbortController();
  const clientGone = () => {
    if (!reply.raw.writableFinished) client.abort(new DOMException("The client closed the request.", "AbortError"));
  };
  reply.raw.on("close", clientGone);
  context.inFlight.add(client);
  try {
    return await work(client.signal);
  } catch (error) {
    if (client.signal.aborted && client.signal.reason instanceof ApiError) throw client.signal.reason;
    throw error;
  } finally {
    context.inFlight.delete(client);
    reply.raw.off("close", clientGone);
  }
}
