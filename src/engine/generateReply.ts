import type { LlamaGrammar, Token } from "node-llama-cpp";
import { ContextOverflowError, InvalidArgumentError } from "../errors/index.js";
import type { ResolvedGenerateOptions } from "./GenerateOptions.js";
import { evaluateOptions } from "./sampling.js";
import type { Slot } from "./Slot.js";
import { StopMatcher } from "./StopMatcher.js";
import { TokenTextDecoder } from "./TokenTextDecoder.js";

/** Why a generation ended. */
export type FinishReason = "endOfText" | "maxTokens" | "stop" | "contextFull" | "aborted";

export interface GenerationResult {
  text: string;
  /** Generated tokens that made it into the reply's history. */
  tokenCount: number;
  finishReason: FinishReason;
}

/**
 * Appends `prompt` to the slot's history and generates a reply after it.
 *
 * The slot's history afterwards is exactly its history before, the prompt and the returned text
 * (a stop string and anything after it are taken back out of the KV cache). `onText` receives the
 * reply in pieces as it is decoded. `closeSignal` aborts with the error to end with (slot freed,
 * engine disposed); the caller's own `signal` ends the reply early and keeps what was generated.
 * `grammar` is the call's compiled `grammar`/`jsonSchema` option, if any.
 */
export async function generateReply(
  slot: Slot,
  prompt: string | readonly Token[] | undefined,
  options: ResolvedGenerateOptions,
  onText: (text: string) => void,
  closeSignal: AbortSignal,
  grammar?: LlamaGrammar,
): Promise<GenerationResult> {
  const { sequence } = slot;
  const model = sequence.model;
  let input = [...slot.pendingTokens, ...promptTokens(slot, prompt)];
  const room = sequence.contextSize - sequence.nextTokenIndex - input.length;
  if (room < 1)
    throw new ContextOverflowError(
      `Slot "${slot.id}" holds ${slot.tokens.length} of ${sequence.contextSize} tokens; ` +
        `the prompt adds ${input.length - slot.pendingTokens.length} and leaves no room to generate. ` +
        `Free the slot and start over, or load with a larger contextSize.`,
    );
  if (options.signal?.aborted) {
    slot.pendingTokens = input; // the prompt is part of the conversation even if no reply was made
    return { text: "", tokenCount: 0, finishReason: "aborted" };
  }
  if (input.length === 0) input = await takeBackLastToken(slot);

  slot.pendingTokens = [];
  const firstReplyIndex = sequence.nextTokenIndex + input.length;
  const decoder = new TokenTextDecoder(model, [...sequence.contextTokens, ...input]);
  const matcher = new StopMatcher(options.stop);
  const generated: Token[] = [];
  /** Reply length once each generated token's text is complete; used to cut at a stop string. */
  const textEnds: number[] = [];
  const maxTokens = Math.min(options.maxTokens, room);
  let finishReason: FinishReason = "contextFull";
  let decodedLength = 0;

  for await (const token of sequence.evaluate(input, evaluateOptions(options, { sequence, input, generated, grammar }))) {
    if (model.isEogToken(token)) {
      finishReason = "endOfText";
      break;
    }
    generated.push(token);
    const text = decoder.push(token);
    if (text.length > 0) {
      decodedLength += text.length;
      while (textEnds.length < generated.length) textEnds.push(decodedLength);
      const safe = matcher.push(text);
      if (safe.length > 0) onText(safe);
      if (matcher.stoppedAt !== undefined) {
        finishReason = "stop";
        break;
      }
    }
    if (closeSignal.aborted) break;
    if (options.signal?.aborted) {
      finishReason = "aborted";
      break;
    }
    if (generated.length >= maxTokens) {
      if (maxTokens === options.maxTokens) finishReason = "maxTokens";
      break;
    }
  }
  // Breaking out of evaluate() leaves the last generated token unevaluated: it waits as pending.
  if (finishReason === "endOfText") slot.pendingTokens = [];
  else slot.pendingTokens = generated.slice(-1);
  if (closeSignal.aborted) throw closeSignal.reason;

  if (matcher.stoppedAt !== undefined) {
    await cutAtStop(slot, generated, textEnds, matcher, firstReplyIndex);
  } else {
    const rest = matcher.flush();
    if (rest.length > 0) onText(rest);
  }
  const text = matcher.reply;
  return { text, tokenCount: generated.length, finishReason };
}

function promptTokens(slot: Slot, prompt: string | readonly Token[] | undefined): Token[] {
  if (Array.isArray(prompt)) return [...prompt];
  const model = slot.sequence.model;
  const isFirst = slot.sequence.nextTokenIndex === 0 && slot.pendingTokens.length === 0;
  const start = isFirst && model.tokens.shouldPrependBosToken && model.tokens.bos != null ? [model.tokens.bos] : [];
  if (typeof prompt !== "string" || prompt.length === 0) return start;
  // Later prompts continue the text: no tokenizer-added leading space in the middle of it.
  return [...start, ...model.tokenize(prompt, false, isFirst ? undefined : "trimLeadingSpace")];
}

/** To generate with no new input, the last evaluated token is evaluated again to get its logits. */
async function takeBackLastToken(slot: Slot): Promise<Token[]> {
  const { sequence } = slot;
  const last = sequence.contextTokens.at(-1);
  if (last === undefined)
    throw new InvalidArgumentError(`Slot "${slot.id}" is empty and this model has no start token: call setPrompt(text) first.`);
  await sequence.eraseContextTokenRanges([{ start: sequence.nextTokenIndex - 1, end: sequence.nextTokenIndex }]);
  return [last];
}

/**
 * The model generated a few tokens past the stop string's start. Those are erased from the KV
 * cache; text between the last whole kept token and the stop string is re-tokenized as pending.
 */
async function cutAtStop(
  slot: Slot,
  generated: readonly Token[],
  textEnds: readonly number[],
  matcher: StopMatcher,
  firstReplyIndex: number,
): Promise<void> {
  const stopAt = matcher.stoppedAt ?? 0;
  let kept = 0;
  while (kept < generated.length && (textEnds[kept] ?? Infinity) <= stopAt) kept++;
  const evaluatedCount = generated.length - 1;
  if (kept < evaluatedCount)
    await slot.sequence.eraseContextTokenRanges([{ start: firstReplyIndex + kept, end: firstReplyIndex + evaluatedCount }]);
  const keptTextEnd = kept === 0 ? 0 : (textEnds[kept - 1] ?? 0);
  const tail = matcher.reply.slice(keptTextEnd);
  slot.pendingTokens = [
    ...generated.slice(evaluatedCount, kept),
    ...(tail.length > 0 ? slot.sequence.model.tokenize(tail, false, "trimLeadingSpace") : []),
  ];
}
