// node-llama-cpp's chat history shapes, copied so that llama-scope's declarations do not load
// node-llama-cpp's. Values of either type are values of the other (test/package/typesCompat.test.ts).
// Type aliases, as node-llama-cpp's are: an interface would not be assignable to an index signature.

/**
 * One item of a chat history, as node-llama-cpp shapes it: a system message, a user message or
 * a model response. Chat scopes keep and accept `{ type: "system", text }` (first only, a string),
 * `{ type: "user", text }` and `{ type: "model", response }` items whose response is text and
 * function calls (`{ type: "functionCall", name, params, result }`; the last reply's last calls
 * may have no `result` yet: they wait for `functionResults`); segments and a system prompt as
 * special-token JSON are here so that node-llama-cpp's histories type-check, and are refused at run time.
 */
export type ChatHistoryItem = ChatSystemMessage | ChatUserMessage | ChatModelResponse;

/** A system prompt. A chat scope's is a string. */
export type ChatSystemMessage = {
  type: "system";
  text: string | LlamaTextJSON;
};

/** A user's message. */
export type ChatUserMessage = {
  type: "user";
  text: string;
};

/** A model's reply. A chat scope's is its text, as strings. */
export type ChatModelResponse = {
  type: "model";
  response: Array<string | ChatModelFunctionCall | ChatModelSegment>;
  /**
   * llama-scope's own: the reply's tokens as the model generated them (a chat scope's history
   * carries them). A scope started from a history with them holds exactly these tokens, so it
   * continues exactly as the scope it came from; tokens that do not spell the reply's text (of
   * another model, or of an edited reply) are left out, and the text is tokenized.
   */
  tokens?: number[];
  /**
   * llama-scope's own, for a reply with function calls: beside each part of `response`, its
   * tokens as the slot holds them (a text part's as generated; a call's arguments as generated),
   * or null where the text is tokenized. As with `tokens`, parts whose tokens do not spell them
   * are tokenized.
   */
  partTokens?: Array<number[] | null>;
};

/** A function call in a model's reply (node-llama-cpp's function calling). */
export type ChatModelFunctionCall = {
  type: "functionCall";
  name: string;
  description?: string;
  params: unknown;
  /** The function's result (JSON data); undefined while the call waits for it. */
  result: unknown;
  rawCall?: LlamaTextJSON;
  /** Whether this call starts a new chunk of parallel function calls. */
  startsNewChunk?: boolean;
};

/** A segment of a model's reply that is not its answer (a thought, a comment). */
export type ChatModelSegment = {
  type: "segment";
  segmentType: "thought" | "comment";
  text: string;
  ended: boolean;
  raw?: LlamaTextJSON;
  startTime?: string;
  endTime?: string;
};

/** Text with special tokens, as JSON (node-llama-cpp's `LlamaText.toJSON()`). */
export type LlamaTextJSON = string | LlamaTextJSONValue[];

/** A piece of {@link LlamaTextJSON}: text, the text of special tokens, or a special token by name. */
export type LlamaTextJSONValue = string | { type: "specialTokensText"; value: string } | { type: "specialToken"; value: string };
