import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import http from "node:http";

/**
 * An HTTP server in a child process (llama-server, or `llama-scope serve`), as users run them:
 * started, awaited until `readyPath` answers 200, stopped with SIGTERM.
 */
export class ChildServer {
  private output = "";

  private constructor(
    readonly name: string,
    readonly url: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.on("data", (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000)));
    child.stderr?.on("data", (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000)));
  }

  static async start(
    name: string,
    command: string,
    args: string[],
    port: number,
    readyPath: string,
    env: NodeJS.ProcessEnv = {},
  ): Promise<ChildServer> {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    const server = new ChildServer(name, `http://127.0.0.1:${port}`, child);
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`${name} exited before it was ready (${child.exitCode ?? child.signalCode}):\n${server.output}`);
      const ready = await fetch(`${server.url}${readyPath}`).then(
        (response) => response.status === 200,
        () => false,
      );
      if (ready) return server;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    child.kill("SIGKILL");
    throw new Error(`${name} was not ready within 120 s:\n${server.output}`);
  }

  /** What the server printed last, for an error message. */
  get log(): string {
    return this.output;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, "exit");
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

export interface CompletionTiming {
  /** From sending the request to the last byte of the reply. */
  ms: number;
  completionTokens: number;
  text: string;
  /** llama-server's own per-token decode loop rate, when it reports one (`timings.predicted_per_second`). */
  serverTokensPerSecond?: number;
}

/** Keep-alive connections, as a client of a busy server would hold them. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/**
 * A request on a kept-alive connection with Node's own HTTP client, timed from sending it to the
 * last byte of the reply. (fetch costs ~1 ms more per request on this machine: that would be the
 * client's cost in every figure, not the server's.)
 */
export function timedRequest(url: string, path: string, body?: unknown): Promise<{ ms: number; status: number; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const request = http.request(
      { host: hostname, port, path, method: body === undefined ? "GET" : "POST", agent, headers: { "content-type": "application/json" } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ ms: performance.now() - start, status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        response.on("error", reject);
      },
    );
    request.on("error", (error: NodeJS.ErrnoException) => {
      // A kept-alive connection the server had just closed (llama-server closes one after a few
      // requests): nothing was answered, so the request goes again on a new connection.
      if (request.reusedSocket && error.code === "ECONNRESET") timedRequest(url, path, body).then(resolve, reject);
      else reject(error);
    });
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/**
 * One `/v1/completions` request, greedy, timed from send to the last byte. Streamed, the text is
 * joined from the events and the usage comes from the final event (`stream_options.include_usage`).
 */
export async function timedCompletion(
  url: string,
  body: { prompt: string; max_tokens: number; stream: boolean } & Record<string, unknown>,
): Promise<CompletionTiming> {
  const {
    ms,
    status,
    text: raw,
  } = await timedRequest(url, "/v1/completions", {
    model: "bench",
    temperature: 0,
    ...body,
    ...(body.stream ? { stream_options: { include_usage: true } } : {}),
  });
  if (status !== 200) throw new Error(`${url} answered ${status}: ${raw.slice(0, 500)}`);
  if (!body.stream) {
    const reply = JSON.parse(raw) as {
      choices: Array<{ text: string }>;
      usage: { completion_tokens: number };
      timings?: { predicted_per_second?: number };
    };
    return {
      ms,
      completionTokens: reply.usage.completion_tokens,
      text: reply.choices[0]!.text,
      ...(reply.timings?.predicted_per_second === undefined ? {} : { serverTokensPerSecond: reply.timings.predicted_per_second }),
    };
  }
  let text = "";
  let completionTokens = 0;
  let serverTokensPerSecond: number | undefined;
  for (const line of raw.split("\n")) {
    if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
    const event = JSON.parse(line.slice("data: ".length)) as {
      choices?: Array<{ text?: string }>;
      usage?: { completion_tokens: number } | null;
      timings?: { predicted_per_second?: number };
    };
    text += event.choices?.[0]?.text ?? "";
    if (event.usage != null) completionTokens = event.usage.completion_tokens;
    if (event.timings?.predicted_per_second !== undefined) serverTokensPerSecond = event.timings.predicted_per_second;
  }
  return { ms, completionTokens, text, ...(serverTokensPerSecond === undefined ? {} : { serverTokensPerSecond }) };
}
