import type { FastifyInstance } from "fastify";
import { ApiError } from "../ApiError.js";
import type { ServerContext } from "../ServerContext.js";

/** `GET /v1/models` and `GET /v1/models/:id`: the one model this server runs. */
export function modelsRoute(app: FastifyInstance, context: ServerContext): void {
  const created = Math.floor(Date.now() / 1000);
  const model = () => ({ id: context.modelId, object: "model", created, owned_by: "llama-scope" });
  app.get("/v1/models", async () => ({ object: "list", data: [model()] }));
  app.get<{ Params: { id: string } }>("/v1/models/:id", async (request) => {
    if (request.params.id !== context.modelId)
      throw new ApiError(
        404,
        `The model ${JSON.stringify(request.params.id)} does not exist: this server runs ${JSON.stringify(context.modelId)}.`,
        {
          param: "model",
          code: "model_not_found",
        },
      );
    return model();
  });
}
