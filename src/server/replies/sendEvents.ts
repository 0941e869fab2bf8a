import { apiErrorOf } from "../ApiError.js";
import { EventStream } from "./EventStream.js";
import type { ReplyPlan } from "./ReplyPlan.js";

/**
 * Sends a streamed reply as server-sent events: the headers, then what `write` sends. Called once
 * the reply's first text is there, so that a prompt refused before it still gets its status code
 * and JSON error. A failure after the headers ends the stream with an error event (OpenAI's clients
 * raise it as an APIError) and resolves undefined; a server error is logged too.
 */
export async function sendEvents<R>(
  plan: Pick<ReplyPlan, "reply" | "headers" | "log">,
  write: (events: EventStream) => Promise<R>,
): Promise<R | undefined> {
  plan.reply.hijack();
  const events = new EventStream(plan.reply.raw);
  try {
    events.open(plan.headers);
    return await write(events);
  } catch (error) {
    const apiError = apiErrorOf(error);
    if (apiError.status >= 500) plan.log(`a streamed reply failed: ${(error as Error).stack ?? String(error)}`);
    await events.send(apiError.body);
    return undefined;
  } finally {
    events.end();
  }
}
