import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../ServerContext.js";

/** `GET /health`: 200 once the model is loaded, 503 while it loads and after the server stopped serving. */
export function healthRoute(app: FastifyInstance, context: ServerContext): void {
  app.get("/health", async (_, reply) => {
    const info = context.parent.modelInfo;
    if (!context.serving)
      return reply.code(503).send({ status: info === undefined && !context.parent.disposed ? "loading" : "unavailable" });
    return { status: "ok", model: context.modelId, slots: info?.slots, contextSize: info?.contextSize };
  });
}
