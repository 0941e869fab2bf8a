// Runs under its own isolations.
// (A thread: the server uses only parent.embed, which parent/embed.test.ts runs under both.)
// POST /v1/embeddings, driven by the official `openai` client over real HTTP on 127.0.0.1: the
// vectors are the library's own (parent.embed), as floats or as base64 of their float32 bytes;
// bad requests get OpenAI-style errors naming the field; a server without embeddings says so.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { APIError } from "openai";
import { MAX_EMBEDDING_INPUTS } from "../../src/server/routes/embeddings.js";
import { norm } from "../support/embeddings.js";
import { otherModelPath } from "../support/testModel.js";
import { metric, postJson, readMetrics, startTestServer, waitFor, type TestServer } from "../support/servers.js";

const TEXTS = ["Once upon a time, there was a little girl.", "Once upon a time, there was a little girl.", "The dog ran to the park."];

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ slots: 1, isolation: "thread" });
});
afterAll(() => t.close());

const post = (body: unknown) => postJson(`${t.url}/v1/embeddings`, body);

/** OpenAI's base64 embedding: little-endian float32 bytes. */
function decodeBase64(text: string): number[] {
  const bytes = Buffer.from(text, "base64");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

describe("POST /v1/embeddings", () => {
  test("embeddings of 3 strings: unit-norm vectors, identical strings give identical vectors, the library's own", async () => {
    const expected = await t.parent.embed(TEXTS);
    const response = await t.client.embeddings.create({ model: "any", input: TEXTS, encoding_format: "float", user: "u-1" });
    expect(response.object).toBe("list");
    expect(response.model).toBe("stories260K");
    const total = expected.tokenCounts.reduce((sum, count) => sum + count, 0);
    expect(response.usage).toEqual({ prompt_tokens: total, total_tokens: total });
    expect(response.data.map(({ object, index }) => ({ object, index }))).toEqual(
      TEXTS.map((_, index) => ({ object: "embedding", index })),
    );
    const vectors = response.data.map(({ embedding }) => embedding);
    expect(vectors).toEqual(expected.vectors);
    for (const vector of vectors) expect(Math.abs(norm(vector) - 1)).toBeLessThan(1e-6);
    expect(vectors[1]).toEqual(vectors[0]);
    expect(vectors[2]).not.toEqual(vectors[0]);
  });

  test("base64 is the float32 bytes of the same vectors; the client's default (base64, decoded) gives them too; one string is one vector", async () => {
    const floats = await t.client.embeddings.create({ model: "any", input: TEXTS, encoding_format: "float" });
    const encoded = await post({ model: "any", input: TEXTS, encoding_format: "base64" });
    expect(encoded.status).toBe(200);
    const decoded = (encoded.body.data as { embedding: string }[]).map(({ embedding }) => decodeBase64(embedding));
    expect(decoded).toEqual(floats.data.map(({ embedding }) => embedding));
    const byDefault = await t.client.embeddings.create({ model: "any", input: TEXTS });
    expect(byDefault.data.map(({ embedding }) => Array.from(embedding))).toEqual(decoded);
    const one = await t.client.embeddings.create({ model: "any", input: TEXTS[2]!, encoding_format: "float" });
    expect(one.data.map(({ embedding }) => embedding)).toEqual([floats.data[2]!.embedding]);
    // The model's own size may be asked for; nothing else.
    const sized = await post({ model: "any", input: "x", dimensions: floats.data[0]!.embedding.length });
    expect(sized.status).toBe(200);
  });

  test.each([
    ["no input", {}, 400, "invalid_value"],
    ["an empty array", { input: [] }, 400, "invalid_value"],
    ["an empty string", { input: ["fine", ""] }, 400, "invalid_value"],
    ["a number among the strings", { input: ["fine", 3] }, 400, "invalid_value"],
    ["token ids", { input: [1, 2, 3] }, 400, "invalid_value"],
    ["arrays of token ids", { input: [[1, 2], [3]] }, 400, "invalid_value"],
    ["too many inputs", { input: Array.from({ length: MAX_EMBEDDING_INPUTS + 1 }, () => "x") }, 413, "too_many_inputs"],
    ["a text longer than the embedding context", { input: ["fine", "a".repeat(100_000)] }, 413, "context_length_exceeded"],
  ])("%s: refused, naming input", async (_, body, status, code) => {
    const response = await post({ model: "any", ...body });
    expect(response.status).toBe(status);
    expect(response.body.error).toMatchObject({ param: "input", code, type: "invalid_request_error" });
    expect(response.body.error.message.length).toBeGreaterThan(20);
  });

  test("an unknown encoding_format, another dimensions, a user that is not a string: 400 naming the field", async () => {
    expect((await post({ input: "x", encoding_format: "hex" })).body.error).toMatchObject({ param: "encoding_format" });
    expect((await post({ input: "x", dimensions: 3 })).body.error).toMatchObject({ param: "dimensions", code: "unsupported_parameter" });
    expect((await post({ input: "x", user: 5 })).body.error).toMatchObject({ param: "user" });
    // Refusals touch nothing: the next request is answered.
    expect((await post({ input: "x" })).status).toBe(200);
  });

  test("/metrics counts the texts and tokens embedded", async () => {
    const before = await readMetrics(t.url);
    const { usage } = await t.client.embeddings.create({ model: "any", input: TEXTS, encoding_format: "float" });
    const after = await readMetrics(t.url);
    expect(metric(after, "llama_scope_embedding_inputs_total") - metric(before, "llama_scope_embedding_inputs_total")).toBe(3);
    expect(metric(after, "llama_scope_embedding_tokens_total") - metric(before, "llama_scope_embedding_tokens_total")).toBe(
      usage.prompt_tokens,
    );
    expect(metric(after, 'llama_scope_http_requests_total{route="/v1/embeddings",status="200"}')).toBeGreaterThan(0);
  });

  test("a request holds a place in the admission queue while it runs; a client that goes away stops it", async () => {
    const many = Array.from({ length: 1500 }, (_, i) => `Story ${i}: the cat sat on the mat and looked at the moon.`);
    const client = new AbortController();
    const sent = fetch(`${t.url}/v1/embeddings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ input: many }),
      signal: client.signal,
    }).catch((error: unknown) => (error as Error).name);
    const inFlight = async () => metric(await readMetrics(t.url), "llama_scope_requests_in_flight");
    await waitFor(async () => (await inFlight()) === 1, 10_000, "the embeddings request to be admitted");
    client.abort();
    expect(await sent).toBe("AbortError");
    await waitFor(async () => (await inFlight()) === 0, 10_000, "the embeddings request to give its place back");
    expect((await post({ input: "x" })).status).toBe(200);
  });

  test("with a second, embedding model: its vectors, and its name as the reply's model", async () => {
    const second = await startTestServer({ slots: 1, isolation: "thread", embeddings: { modelPath: otherModelPath() } });
    try {
      const expected = await second.parent.embed(TEXTS);
      const response = await second.client.embeddings.create({ model: "any", input: TEXTS, encoding_format: "float" });
      expect(response.model).toBe("llama-2-tiny-random");
      expect(response.data.map(({ embedding }) => embedding)).toEqual(expected.vectors);
      expect(expected.vectors[0]).toHaveLength(second.parent.modelInfo!.embeddings!.dimensions);
      expect((await second.client.models.list()).data[0]!.id).toBe("stories260K"); // the served model is unchanged
    } finally {
      await second.close();
    }
  });

  test("a server whose parent has embeddings off answers 501 and says how to turn them on", async () => {
    const off = await startTestServer({ slots: 1, isolation: "thread", embeddings: false });
    try {
      expect(off.parent.modelInfo!.embeddings).toBeUndefined();
      const refused = await off.client.embeddings.create({ model: "any", input: "x" }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(APIError);
      expect((refused as APIError).status).toBe(501);
      expect((refused as APIError).error).toMatchObject({ type: "not_supported_error", code: "embeddings_unavailable" });
      expect((refused as APIError).message).toMatch(/--embeddings off/);
    } finally {
      await off.close();
    }
  });
});
