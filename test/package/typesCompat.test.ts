// llama-scope's public types copy node-llama-cpp's shapes where the two meet (tokens, chat
// histories, JSON schemas) and type `Llama.model` by a narrow interface, so that the published
// declarations load none of node-llama-cpp's (which have errors of their own under
// skipLibCheck: false; test/package.test.ts). The copies must stay interchangeable with the
// originals: the `Checks` below are compiled with the tests, so a node-llama-cpp upgrade that
// changes one of these shapes fails the build (`npm run pretest`), naming the check.
import { expect, test } from "@jest/globals";
import { LlamaModel, type ChatHistoryItem as NodeChatHistoryItem, type GbnfJsonSchema, type Token as NodeToken } from "node-llama-cpp";
import type { ChatHistoryItem, JsonSchema, ModelTokenizer, Token } from "../../src/index.js";
import { nodeModelOf } from "../../src/engine/model/nodeModel.js";
import { withLlama } from "../support/llamas.js";

/** `true` when every `From` is a `To` (the brackets keep unions from being checked member by member). */
type Assignable<From, To> = [From] extends [To] ? true : false;
/** Fails to compile unless `T` is `true`. */
type Expect<T extends true> = T;

export type Checks = [
  // A user's node-llama-cpp history (LlamaChatSession.getChatHistory()) is a scope's `history`…
  Expect<Assignable<NodeChatHistoryItem, ChatHistoryItem>>,
  // …and a scope's getChatHistory() goes to node-llama-cpp's chat wrappers and sessions.
  Expect<Assignable<ChatHistoryItem, NodeChatHistoryItem>>,
  Expect<Assignable<NodeToken, Token>>,
  Expect<Assignable<Token, NodeToken>>,
  Expect<Assignable<GbnfJsonSchema, JsonSchema>>,
  Expect<Assignable<JsonSchema, GbnfJsonSchema>>,
  // What `llama.model` is at run time has everything its public type names.
  Expect<Assignable<LlamaModel, ModelTokenizer>>,
  // The checks can fail:
  // @ts-expect-error a plain number is not a token
  Expect<Assignable<number, Token>>,
  // @ts-expect-error "date" is no JSON type (it is a string format)
  Expect<Assignable<{ type: "date" }, JsonSchema>>,
];

test("llama.model is node-llama-cpp's LlamaModel, so `llama.model as LlamaModel` (docs/api.md) holds", () =>
  withLlama({ slots: 1 }, async (llama) => {
    expect(llama.model).toBeInstanceOf(LlamaModel);
    expect(nodeModelOf(llama)).toBe(llama.model);
    // node-llama-cpp's tokens go in as they are, and come out as ours.
    const theirs: NodeToken[] = [nodeModelOf(llama).tokens.bos!, ...nodeModelOf(llama).tokenize("Once upon a time")];
    llama.createSlot("a");
    llama.setSlot("a");
    llama.setPromptTokens(theirs);
    await llama.generate({ maxTokens: 2 });
    const ours: Token[] = llama.historyTokens("a");
    expect(ours.slice(0, theirs.length)).toEqual(theirs);
    expect(llama.model.detokenize(ours.slice(1, theirs.length))).toBe("Once upon a time");
  }));
