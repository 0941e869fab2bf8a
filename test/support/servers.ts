import OpenAI from "openai";
import type { LlamaParent, ParentLoadOptions } from "../../src/index.js";
import { LlamaServer, type ServerOptions } from "../../src/server/index.js";
import { startParent } from "./parents.js";

/** A real server on 127.0.0.1 (an ephemeral port) on a started parent, and an `openai` client for it. */
export interface TestServer {
  parent: LlamaParent;
  server: LlamaServer;
  url: string;
  /** The official client; no retries, so a 429 or 503 reaches the test as it was sent. */
  client: OpenAI;
  /** Closes the server, then disposes the parent. */
  close(): Promise<void>;
}

export async function startTestServer(load: Partial<ParentLoadOptions> = {}, options: ServerOptions = {}): Promise<TestServer> {
  const parent = await startParent(load);
  const server = new LlamaServer(parent, { log: () => {}, ...options });
  const { url } = await server.listen({ host: "127.0.0.1", port: 0 });
  return {
    parent,
    server,
    url,
    client: openaiClient(url, options.apiKey),
    close: async () => {
      await server.close();
      await parent.dispose();
    },
  };
}

export function openaiClient(url: string, apiKey = "no-key"): OpenAI {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 });
}

/** `GET /metrics` as a map from `name{labels}` (as the server prints it) to its value. */
export async function readMetrics(url: string): Promise<Map<string, number>> {
  const response = await fetch(`${url}/metrics`);
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  const metrics = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const space = line.lastIndexOf(" ");
    metrics.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return metrics;
}

/** A metric's value, 0 when the server has not printed it yet (a labelled counter before its first count). */
export function metric(metrics: Map<string, number>, key: string): number {
  return metrics.get(key) ?? 0;
}

/** Sends a JSON body (or raw text) with fetch; resolves with the status, headers and parsed body. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: the test sees the text
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** Polls `check` every 50 ms until it returns true, or throws after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
