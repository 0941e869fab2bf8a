import path from "node:path";
import type { FastifyInstance } from "fastify";
import { ContextOverflowError, EmbeddingsUnavailableError } from "../../index.js";
import { ApiError, badRequest } from "../ApiError.js";
import { objectBody, stringField, type Body } from "../requests/requestFields.js";
import type { ServerContext } from "../ServerContext.js";
import { whileClientWaits } from "../clientRequest.js";

/** Inputs one request may embed, as OpenAI's API allows: the work of a request stays bounded. */
export const MAX_EMBEDDING_INPUTS = 2048;

/**
 * `POST /v1/embeddings`: one unit-length vector per input text, as floats or as base64 of their
 * little-endian float32 bytes (OpenAI's `encoding_format`). Each request takes a place in the
 * admission queue, as a completion does, so a flood of embeddings cannot starve completions;
 * a client that goes away stops the work between two texts.
 */
export function embeddingsRoute(app: FastifyInstance, context: ServerContext): void {
  app.post("/v1/embeddings", async (request, reply) => {
    context.assertServing();
    const body = objectBody(request.body);
    const texts = inputOf(body.input);
    const format = encodingFormatOf(body);
    stringField(body, "user"); // OpenAI's end-user id: checked, not used
    assertDimensions(context, body.dimensions);

    return whileClientWaits(context, reply, async (signal) => {
      const release = await context.admission.enter(signal);
      try {
        const { vectors, tokenCounts } = await context.parent.embed(texts, { signal }).catch((error: unknown) => {
          throw apiErrorOfEmbed(error);
        });
        const tokens = tokenCounts.reduce((sum, count) => sum + count, 0);
        context.metrics.embedding(texts.length, tokens);
        return {
          object: "list",
          data: vectors.map((vector, index) => ({
            object: "embedding",
            index,
            embedding: format === "base64" ? base64Of(vector) : vector,
          })),
          model: embeddingModelId(context),
          usage: { prompt_tokens: tokens, total_tokens: tokens },
        };
      } finally {
        release();
      }
    });
  });
}

/** The served model's id, or a second embedding model's file name without `.gguf`: the model that made the vectors. */
function embeddingModelId(context: ServerContext): string {
  const info = context.parent.modelInfo;
  const file = info?.embeddings?.modelPath;
  return file === undefined || file === info?.modelPath ? context.modelId : path.basename(file).replace(/\.gguf$/i, "");
}

/** `input`: a string or an array of strings, at most {@link MAX_EMBEDDING_INPUTS}; token arrays are refused. */
function inputOf(input: unknown): string[] {
  const texts = typeof input === "string" ? [input] : input;
  if (!Array.isArray(texts) || (texts.length > 0 && texts.every((item) => typeof item === "number")))
    throw badRequest(
      Array.isArray(texts)
        ? "input as token ids is not taken by this server: send the text itself (a string or an array of strings)."
        : 'input must be a string or an array of strings, e.g. "input": ["first text", "second"].',
      "input",
    );
  if (texts.length === 0) throw badRequest("input is an empty array: send at least one text.", "input");
  if (texts.length > MAX_EMBEDDING_INPUTS)
    throw new ApiError(
      413,
      `input has ${texts.length} texts; this server embeds at most ${MAX_EMBEDDING_INPUTS} in one request. Send them in several requests.`,
      { param: "input", code: "too_many_inputs" },
    );
  texts.forEach((text: unknown, index) => {
    if (Array.isArray(text)) throw badRequest(`input[${index}] is a token array: send the text itself.`, "input");
    if (typeof text !== "string") throw badRequest(`input[${index}] must be a string, not ${JSON.stringify(text)}.`, "input");
    if (text.length === 0) throw badRequest(`input[${index}] is empty: an empty text has no embedding. Leave it out.`, "input");
  });
  return texts as string[];
}

function encodingFormatOf(body: Body): "float" | "base64" {
  const format = stringField(body, "encoding_format") ?? "float";
  if (format !== "float" && format !== "base64")
    throw badRequest(`encoding_format must be "float" or "base64", not ${JSON.stringify(format)}.`, "encoding_format");
  return format;
}

/** `dimensions` can only ask for what the model gives: this server does not shorten vectors. */
function assertDimensions(context: ServerContext, dimensions: unknown): void {
  if (dimensions === undefined || dimensions === null) return;
  const own = context.parent.modelInfo?.embeddings?.dimensions;
  if (own === undefined || dimensions === own) return;
  throw badRequest(
    `dimensions must be ${own}, the embedding model's size, or left out: this server does not shorten vectors (asked for ${JSON.stringify(dimensions)}).`,
    "dimensions",
    "unsupported_parameter",
  );
}

/** The library's refusals of an embed call, naming `input` rather than `messages`. */
function apiErrorOfEmbed(error: unknown): unknown {
  if (error instanceof ContextOverflowError)
    return new ApiError(413, error.message.replace(/^Text (\d+)/, "input[$1]"), { param: "input", code: "context_length_exceeded" });
  if (error instanceof EmbeddingsUnavailableError)
    return new ApiError(
      501,
      "This server does not compute embeddings: it was started with embeddings off. Start it without --embeddings off (or with --embedding-model), or load the LlamaParent without embeddings: false.",
      { type: "not_supported_error", code: "embeddings_unavailable" },
    );
  return error;
}

/** OpenAI's base64 format: the vector's float32 values as little-endian bytes, in base64. */
function base64Of(vector: readonly number[]): string {
  const bytes = new DataView(new ArrayBuffer(vector.length * 4));
  vector.forEach((value, index) => bytes.setFloat32(index * 4, value, true));
  return Buffer.from(bytes.buffer).toString("base64");
}
