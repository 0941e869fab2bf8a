/**
 * A token id of the loaded model's vocabulary: a number, branded so that any number is not taken
 * for a token by mistake (get tokens from `llama.model.tokenize`, `llama.historyTokens`…). It is
 * the same brand as node-llama-cpp's `Token`, so their tokens and ours are interchangeable.
 */
export type Token = number & { __token: never };
