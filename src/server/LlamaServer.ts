import path from "node:path";
import { fastify, type FastifyInstance } from "fastify";
import { InvalidArgumentError, LlamaParent } from "../index.js";
import { AdmissionQueue } from "./AdmissionQueue.js";
import { ApiError, apiErrorOf } from "./ApiError.js";
import { requireApiKey } from "./apiKey.js";
import { parseJsonBodies } from "./requests/jsonBody.js";
import { chatCompletionsRoute } from "./routes/chatCompletions.js";
import { completionsRoute } from "./routes/completions.js";
import { embeddingsRoute } from "./routes/embeddings.js";
import { healthRoute } from "./routes/health.js";
import { metricsRoute } from "./routes/metrics.js";
import { modelsRoute } from "./routes/models.js";
import { pageRoute } from "./routes/page.js";
import type { ServerContext } from "./ServerContext.js";
import { ServerMetrics } from "./metrics/ServerMetrics.js";
import { resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from "./ServerOptions.js";
import { HistorySightings } from "./conversations/HistorySightings.js";
import { ScopeShifts } from "./conversations/ScopeShifts.js";
import { SessionStore } from "./conversations/SessionStore.js";
import { SharedSessions } from "./conversations/SharedSessions.js";
import { StateDirectory } from "./conversations/StateDirectory.js";
import { StatelessScopes } from "./conversations/StatelessScopes.js";

/** Where a {@link LlamaServer} listens. */
export interface ListenOptions {
  /** Default `"127.0.0.1"`: only this machine. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
}

/** The address a started server listens on. */
export interface ServerAddress {
  host: string;
  port: number;
  /** `http://host:port`, for clients. */
  url: string;
}

/**
 * An OpenAI-compatible HTTP server on a {@link LlamaParent}: chat and text completions (whole or
 * streamed), embeddings, sessions continued on their scopes, a bounded queue, Prometheus metrics and a chat
 * page. It uses the parent without owning it: dispose the parent after `close()`.
 */
export class LlamaServer {
  /** The Fastify instance, for adding routes or hooks before `listen()`. */
  readonly app: FastifyInstance;
  private readonly options: ResolvedServerOptions;
  private readonly context: ServerContext;
  private readonly sessions: SessionStore;
  private closing: Promise<{ persisted: number }> | undefined;
  private failed = false;
  private readonly engineFailed = (error: Error) => {
    this.failed = true;
    this.options.log(`the engine stopped for good; completions get 503 from now on: ${error.message}`);
  };

  constructor(
    readonly parent: LlamaParent,
    options?: ServerOptions,
  ) {
    if (!(parent instanceof LlamaParent))
      throw new InvalidArgumentError("LlamaServer takes a LlamaParent: new LlamaServer(parent, options).");
    this.options = resolveServerOptions(options);
    const slots = parent.load.slots;
    const { stateDir, maxSavedSessions, maxStateBytes, maxSessions, maxSessionQueue, maxStatelessScopes, log } = this.options;
    const directory =
      stateDir === undefined ? undefined : new StateDirectory(stateDir, { maxFiles: maxSavedSessions, maxBytes: maxStateBytes }, log);
    const shared =
      parent.load.store === undefined
        ? undefined
        : new SharedSessions(() => parent.conversations, this.options.durability, this.options.sessionLeaseWaitMs, log);
    this.sessions = new SessionStore(parent, directory, log, { maxSessions, maxSessionQueue }, shared);
    parent.on("error", this.engineFailed);
    const unavailable = () => this.unavailable();
    const shifts = new ScopeShifts(parent);
    this.context = {
      parent,
      options: this.options,
      modelId: this.options.modelId ?? modelIdOf(parent.load.options.modelPath),
      sessions: this.sessions,
      stateless: new StatelessScopes(maxStatelessScopes, this.sessions, shifts),
      shifts,
      sightings: new HistorySightings(),
      admission: new AdmissionQueue(slots, this.options.maxQueue),
      metrics: new ServerMetrics(parent),
      inFlight: new Set(),
      get serving() {
        return unavailable() === undefined;
      },
      assertServing() {
        const why = unavailable();
        if (why !== undefined) throw why;
      },
    };
    this.app = this.createApp();
  }

  /** Starts listening; resolves with the address (the port chosen, with port 0). */
  async listen({ host = "127.0.0.1", port = 8080 }: ListenOptions = {}): Promise<ServerAddress> {
    await this.sessions.open();
    await this.app.listen({ host, port });
    const address = this.app.server.address();
    const chosen = typeof address === "object" && address !== null ? address.port : port;
    const urlHost = host.includes(":") ? `[${host}]` : host;
    return { host, port: chosen, url: `http://${urlHost}:${chosen}` };
  }

  /**
   * Stops taking requests (new ones get 503), lets those in flight finish (their generations are
   * stopped after `closeGraceMs`), writes every session to `stateDir` (unless `persist: false`
   * or there is none) and stops listening. Idempotent. The parent is left running.
   */
  close({ persist = true }: { persist?: boolean } = {}): Promise<{ persisted: number }> {
    this.closing ??= (async () => {
      const graceTimer = setTimeout(() => {
        const stopping = new ApiError(503, "The server is shutting down. Retry on its next start.", { code: "shutting_down" });
        for (const client of this.context.inFlight) client.abort(stopping);
      }, this.options.closeGraceMs);
      try {
        await this.drained();
      } finally {
        clearTimeout(graceTimer);
      }
      const usable = !this.parent.disposed && !this.failed;
      await this.context.stateless.dispose(); // they are no session: nothing to save
      // With a conversation store, sessions holding turns it has not got are written there too.
      const keep = this.options.stateDir !== undefined || this.sessions.shared !== undefined;
      const persisted = persist && usable && keep ? await this.sessions.persist() : (await this.sessions.dispose(), 0);
      await this.app.close();
      this.context.metrics.detach();
      this.context.shifts.detach();
      this.parent.off("error", this.engineFailed);
      return { persisted };
    })();
    return this.closing;
  }

  /** Resolves when no request is in flight. */
  private async drained(): Promise<void> {
    while (this.context.inFlight.size > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  /** The 503 that says why completions cannot be answered now; undefined when they can. */
  private unavailable(): ApiError | undefined {
    if (this.closing !== undefined)
      return new ApiError(503, "The server is shutting down. Retry on its next start.", { code: "shutting_down" });
    if (this.failed || this.parent.disposed)
      return new ApiError(503, "The model's engine stopped; the server cannot answer completions. Restart it.", { code: "unavailable" });
    if (this.parent.modelInfo === undefined)
      return new ApiError(503, "The model is still loading. Retry in a few seconds.", { code: "model_loading" });
    return undefined;
  }

  private createApp(): FastifyInstance {
    const app = fastify({ bodyLimit: this.options.bodyLimit, logger: false, forceCloseConnections: true, return503OnClosing: true });
    parseJsonBodies(app);
    if (this.options.apiKey !== undefined) requireApiKey(app, this.options.apiKey);
    app.addHook("onResponse", async (request, reply) => {
      this.context.metrics.request(request.routeOptions.url ?? "unknown", reply.statusCode);
    });
    app.setErrorHandler(async (error, _request, reply) => {
      const apiError = apiErrorOf(error);
      if (apiError.status === 500) this.options.log(`request failed: ${(error as Error).stack ?? String(error)}`);
      if (apiError.status === 429 || apiError.status === 503) reply.header("retry-after", "1");
      return reply.code(apiError.status).send(apiError.body);
    });
    app.setNotFoundHandler(async (request, reply) => {
      const { body } = new ApiError(
        404,
        `There is no ${request.method} ${request.url.split("?")[0]} here. See GET /v1/models, POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings.`,
        {
          code: "not_found",
        },
      );
      return reply.code(404).send(body);
    });
    for (const route of [chatCompletionsRoute, completionsRoute, embeddingsRoute, modelsRoute, healthRoute, metricsRoute])
      route(app, this.context);
    pageRoute(app);
    return app;
  }
}

/** `models/stories260K.gguf` → `stories260K`; a URI's last part likewise. */
function modelIdOf(modelPath: string): string {
  const name = path.basename(modelPath.split(/[?#]/)[0]!).replace(/\.gguf$/i, "");
  return name.length > 0 ? name : "model";
}
