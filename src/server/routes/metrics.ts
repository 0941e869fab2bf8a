import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../ServerContext.js";

/** `GET /metrics`: Prometheus' text format. */
export function metricsRoute(app: FastifyInstance, context: ServerContext): void {
  app.get("/metrics", async (_, reply) => {
    const page = context.metrics.render({
      queueDepth: context.admission.depth,
      sessionQueueDepth: context.sessions.waiting,
      inFlight: context.admission.inFlight,
      sessions: context.sessions.counts,
      revived: context.sessions.revived,
      evicted: context.sessions.evicted,
      statelessScopes: context.stateless.size,
      ...(context.sessions.shared === undefined
        ? {}
        : { shared: { status: context.parent.conversations?.status, counts: context.sessions.shared.counts } }),
    });
    return reply.type("text/plain; version=0.0.4; charset=utf-8").send(page);
  });
}
