import type { FastifyReply } from "fastify";
import type { GenerationResult } from "../../index.js";
import type { ReplyFormat } from "./replyFormats.js";

/** How one completion request wants its reply. */
export interface ReplyPlan {
  reply: FastifyReply;
  /** Aborts when the client goes away: the generation stops. */
  signal: AbortSignal;
  stream: boolean;
  format: ReplyFormat;
  /** Extra response headers (the session id). */
  headers: Record<string, string>;
  /** Logs a failure after the stream started, when no status code can say it any more. */
  log: (line: string) => void;
  /** The request's `n` (see respondChoices). */
  choices: number;
  endpoint: "chat" | "completions";
  /**
   * Called with the result once the reply is generated, before the response ends (a stream's last
   * events): what the server keeps of the conversation is in place before the client can send
   * its next request. Must not reject.
   */
  generated?: (result: GenerationResult) => Promise<void>;
}
