import { once } from "node:events";
import type { ServerResponse } from "node:http";

/**
 * Server-sent events on a raw response, as OpenAI streams: `data: <json>` per event, then
 * `data: [DONE]`. Writes after the client left are dropped; a slow client is waited for.
 */
export class EventStream {
  constructor(private readonly response: ServerResponse) {}

  /** Sends the status and headers; `extra` ones a header cannot carry are left out rather than failing the stream. */
  open(extra: Record<string, string>): void {
    const headers = {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no", // a proxy in front must not hold the chunks back
    };
    try {
      this.response.writeHead(200, { ...extra, ...headers });
    } catch {
      // writeHead checks every header before it sends any: nothing went out, so it can start again.
      this.response.writeHead(200, headers);
    }
    this.response.flushHeaders();
  }

  get closed(): boolean {
    return this.response.destroyed || this.response.writableEnded;
  }

  async send(data: object | "[DONE]"): Promise<void> {
    if (this.closed) return;
    const text = `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;
    if (!this.response.write(text)) await Promise.race([once(this.response, "drain"), once(this.response, "close")]);
  }

  end(): void {
    if (!this.closed) this.response.end();
  }
}
