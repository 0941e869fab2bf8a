import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../ServerContext.js";

/**
 * `GET /health`: 200 once the model is loaded, 503 while it loads and after the server stopped
 * serving. With a conversation store, `store` says whether it is connected: a replica whose store
 * is down still answers (from its own copies of sessions), so it stays 200 with `status: "degraded"`.
 */
export function healthRoute(app: FastifyInstance, context: ServerContext): void {
  app.get("/health", async (_, reply) => {
    const info = context.parent.modelInfo;
    if (!context.serving)
      return reply.code(503).send({ status: info === undefined && !context.parent.disposed ? "loading" : "unavailable" });
    const store = context.parent.conversations?.status;
    const health = { status: "ok", model: context.modelId, slots: info?.slots, contextSize: info?.contextSize };
    if (store === undefined) return health;
    const { connected, lastFailure } = store;
    return {
      ...health,
      status: connected ? "ok" : "degraded",
      store: { connected, ...(lastFailure === undefined ? {} : { lastFailure }) },
    };
  });
}
