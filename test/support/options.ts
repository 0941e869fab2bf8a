import { expect } from "@jest/globals";
import type { Token } from "node-llama-cpp";
import type { GenerateOptions, GenerationResult, Llama } from "../../src/index.js";
import { decodeState } from "../../src/state/StateFormat.js";

/** A schema with a bounded string, an enum and a boolean: every kind of constraint the tests check. */
export const PET_SCHEMA = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 12 },
    mood: { enum: ["happy", "sad", "angry"] },
    likesCats: { type: "boolean" },
  },
} as const satisfies GenerateOptions["jsonSchema"];

/** Enough for any reply of {@link PET_SCHEMA} (about 55 tokens on stories260K). */
export const PET_MAX_TOKENS = 200;

/** Parses a reply and checks it field by field against {@link PET_SCHEMA}. */
export function expectPet(text: string): void {
  expect(text.startsWith("{") && text.endsWith("}")).toBe(true);
  const value = JSON.parse(text) as Record<string, unknown>;
  expect(Object.keys(value)).toEqual(["name", "mood", "likesCats"]);
  expect(typeof value.name).toBe("string");
  expect((value.name as string).length).toBeLessThanOrEqual(12);
  expect(["happy", "sad", "angry"]).toContain(value.mood);
  expect(typeof value.likesCats).toBe("boolean");
}

export interface Generation {
  result: GenerationResult;
  /** The slot's whole history afterwards (evaluated and pending tokens). */
  history: Token[];
  /** The reply's tokens, exactly as generated. */
  generated: Token[];
}

/** Generates `prompt` on a new slot `id` (freed afterwards) and reads back the exact tokens. */
export async function generateOnNewSlot(llama: Llama, id: string, prompt: string, options?: GenerateOptions): Promise<Generation> {
  llama.createSlot(id);
  try {
    llama.setSlot(id);
    llama.setPrompt(prompt);
    const result = await llama.generate(options);
    const { tokens, pending } = decodeState(await llama.saveState());
    const history = [...tokens, ...pending];
    return { result, history, generated: history.slice(history.length - result.tokenCount) };
  } finally {
    await llama.freeSlot(id);
  }
}

/** How many tokens of `tokens` occurred earlier in it. */
export function repeatedCount(tokens: readonly Token[]): number {
  return tokens.length - new Set(tokens).size;
}
