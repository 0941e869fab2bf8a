import type { LlamaContextSequence, LlamaGrammar, Token } from "node-llama-cpp";
import { ContextOverflowError, InvalidArgumentError } from "../../shared/errors/index.js";
import { eraseBeginning, rangeLength, rangesToErase, type ResolvedContextShift, type TokenRange } from "../../shared/ContextShift.js";
import type { ResolvedGenerateOptions } from "./GenerateOptions.js";
import type { FinishReason, GenerationResult } from "./GenerationResult.js";
import { assertPromptLength } from "../../shared/promptLength.js";
import { PromptTokenizer } from "../tokenize/PromptTokenizer.js";
import { evaluateOptions } from "./sampling.js";
import { LogprobRecorder } from "./LogprobRecorder.js";
import type { TokenLogprob } from "./TokenLogprob.js";
import type { Slot, SlotPrompt } from "../slots/Slot.js";
import { inLockStep } from "../batching/StepBarrier.js";
import { evaluateWithProbabilities, type ProbabilityStep } from "../internals/nodeLlamaCppInternals.js";
import { StopMatcher } from "./StopMatcher.js";
import { TokenTextDecoder } from "./TokenTextDecoder.js";

/**
 * Appends `prompt` to the slot's history and generates a reply after it.
 *
 * The slot's history afterwards is exactly its history before, the prompt and the returned text
 * (a stop string and anything after it are taken back out of the KV cache), less what context
 * shifts erased to make room. `onText` receives the reply in pieces as it is decoded, with the
 * `logprobs` entries of the tokens whose text those pieces completed (with the option on).
 * `closeSignal` aborts with the error to end with (slot freed, engine disposed); the caller's
 * own `signal` ends the reply early and keeps what was generated, or, when it is aborted before
 * the call starts, rejects with an `AbortError` and changes nothing. `grammar` is the call's
 * compiled `grammar`/`jsonSchema` option, if any.
 */
export async function generateReply(
  slot: Slot,
  prompt: SlotPrompt | undefined,
  options: ResolvedGenerateOptions,
  onText: (text: string, logprobs?: TokenLogprob[]) => void,
  closeSignal: AbortSignal,
  grammar?: LlamaGrammar,
): Promise<GenerationResult> {
  if (options.signal?.aborted) throw abortedBeforeStart();
  const { sequence } = slot;
  const model = sequence.model;
  // Everything is decided before the slot changes: a prompt that is refused leaves it as it was.
  const erase = typeof prompt === "object" && prompt.erase !== undefined ? clampRange(prompt.erase, slot.tokens.length) : undefined;
  const history = without(slot.tokens, erase);
  const keep = Math.min(typeof prompt === "object" ? (prompt.keep ?? history.length) : history.length, history.length);
  const added = await promptTokens(slot, prompt, keep, closeSignal);
  // node-llama-cpp decodes only while the sequence holds fewer than contextSize - 1 tokens.
  const capacity = sequence.contextSize - 1;
  const room = capacity + 1 - keep - added.length;
  if (slot.shift === false && room < 1)
    throw new ContextOverflowError(
      `Conversation "${slot.id}" holds ${keep} of ${sequence.contextSize} tokens and the prompt adds ${added.length}, ` +
        `leaving no room for a reply, and contextShift is off. Turn contextShift on to erase the oldest tokens, ` +
        `start a new conversation, or load with a larger contextSize.`,
    );
  if (slot.shift !== false && added.length >= capacity)
    throw new ContextOverflowError(
      `This prompt is ${added.length} tokens; a conversation holds at most ${capacity - 1} with its start token. ` +
        `Shorten the prompt or load with a larger contextSize.`,
    );
  // The history kept, evaluated or still waiting (a conversation rebuilt from its tokens), makes room.
  const shift = slot.shift === false ? [] : rangesToFit(slot, slot.shift, history.slice(0, keep), added.length);

  if (erase !== undefined) {
    await eraseHistory(slot, erase);
    recordShift(slot, slot.shift, erase.end - erase.start);
  }
  await truncateHistory(slot, keep);
  if (shift.length > 0) {
    for (const range of [...shift].reverse()) await eraseHistory(slot, range); // the last first: the earlier ones stay in place
    recordShift(slot, slot.shift, rangeLength(shift));
  }
  let input = [...slot.pendingTokens, ...added];
  if (input.length === 0) input = await takeBackLastToken(slot);

  slot.pendingTokens = [];
  if (options.prefillOnly === true) return prefillInput(slot, input, added.length);
  const decoder = new TokenTextDecoder(model, [...sequence.contextTokens, ...input]);
  const matcher = new StopMatcher(options.stop);
  const generated: Token[] = [];
  /** Reply length once each generated token's text is complete; used to cut at a stop string. */
  const textEnds: number[] = [];
  // Without shifting, the reply ends when the slot is full; with it, after contextSize tokens at
  // most, so a model that never ends its text cannot generate forever.
  const maxTokens = Math.min(options.maxTokens, slot.shift === false ? room : sequence.contextSize);
  let finishReason: FinishReason = "contextFull";
  let decodedLength = 0;
  const evaluate = evaluateOptions(options, { sequence, input, generated, grammar });
  if (slot.shift !== false) evaluate.contextShift = { size: slot.shift.size, strategy: midReplyShift(slot, slot.shift) };
  // Probabilities only when asked: each step then copies the whole vocabulary's out of llama.cpp.
  const logprobs =
    options.logprobs === undefined ? undefined : new LogprobRecorder(model, options.logprobs, [...sequence.contextTokens, ...input]);
  const steps =
    logprobs === undefined
      ? sequence.evaluate(input, evaluate)
      : evaluateWithProbabilities(sequence, input, evaluate, options.logprobs! > 0);
  let emitted = 0;
  const emit = (safe: string): void => {
    emitted += safe.length;
    if (logprobs === undefined) onText(safe);
    else onText(safe, logprobs.deliverUpTo(textEnds, emitted));
  };

  // In lock-step, the next token is queued only once every generating slot has its own.
  for await (const step of inLockStep<Token | ProbabilityStep>(steps, slot.lockstep)) {
    const token = typeof step === "number" ? step : step.token;
    if (model.isEogToken(token)) {
      finishReason = "endOfText";
      break;
    }
    generated.push(token);
    if (typeof step !== "number") logprobs?.record(token, step.probabilities, step.confidence);
    const text = decoder.push(token);
    if (text.length > 0) {
      logprobs?.setText(generated.length - 1, text);
      decodedLength += text.length;
      while (textEnds.length < generated.length) textEnds.push(decodedLength);
      const safe = matcher.push(text);
      if (safe.length > 0) emit(safe);
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
      if (maxTokens === options.maxTokens || slot.shift !== false) finishReason = "maxTokens";
      break;
    }
  }
  // Breaking out of evaluate() leaves the last generated token unevaluated: it waits as pending.
  if (finishReason === "endOfText") slot.pendingTokens = [];
  else slot.pendingTokens = generated.slice(-1);
  if (closeSignal.aborted) throw closeSignal.reason;

  let tokenCount = generated.length;
  if (matcher.stoppedAt !== undefined) {
    const cut = await cutAtStop(slot, generated, textEnds, matcher);
    tokenCount = cut.tokenCount;
    const rest = logprobs?.cut(cut.kept, cut.tail);
    if (rest !== undefined && rest.length > 0) onText("", rest);
  } else {
    const rest = matcher.flush();
    const restLogprobs = logprobs?.rest();
    if (rest.length > 0 || (restLogprobs !== undefined && restLogprobs.length > 0)) onText(rest, restLogprobs);
  }
  const result: GenerationResult = { text: matcher.reply, tokenCount, promptTokenCount: added.length, finishReason };
  if (logprobs !== undefined) result.logprobs = logprobs.entries;
  if (matcher.matched !== undefined) result.stopString = matcher.matched;
  return result;
}

/**
 * Evaluates all of `input` but its last token, which waits as a reply's last token does: the
 * next generate call with no prompt evaluates it and replies (and a copy of the slot does too).
 * The room for it was made as for a reply.
 */
async function prefillInput(slot: Slot, input: readonly Token[], promptTokenCount: number): Promise<GenerationResult> {
  const { sequence } = slot;
  const now = input.slice(0, -1);
  slot.pendingTokens = input.slice(-1);
  const before = sequence.nextTokenIndex;
  try {
    if (now.length > 0) await sequence.evaluateWithoutGeneratingNewTokens(now);
  } catch (error) {
    // What was not evaluated waits again: the history stays whole.
    slot.pendingTokens = input.slice(Math.max(0, sequence.nextTokenIndex - before));
    throw error;
  }
  return { text: "", tokenCount: 0, promptTokenCount, finishReason: "maxTokens" };
}

/** An AbortSignal that fired before the call started: like fetch, reject with an AbortError. */
function abortedBeforeStart(): DOMException {
  return new DOMException("The generation was aborted before it started; the prompt was not added to the conversation.", "AbortError");
}

/** Cuts the history back to its first `keep` tokens (evaluated ones leave the KV cache). */
async function truncateHistory(slot: Slot, keep: number): Promise<void> {
  const { sequence } = slot;
  if (keep >= slot.tokens.length) return;
  if (keep < sequence.nextTokenIndex) {
    await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
    slot.pendingTokens = [];
  } else slot.pendingTokens = slot.pendingTokens.slice(0, keep - sequence.nextTokenIndex);
}

/**
 * Before a prompt: the ranges to erase from the `kept` history (evaluated or waiting) so that
 * `inputLength` more tokens fit, at least the shift's size at once; none when they fit already.
 * The strategy is asked once, for enough room; when it cannot free that much, the prompt is
 * refused before anything is erased.
 */
function rangesToFit(slot: Slot, shift: ResolvedContextShift, kept: readonly Token[], inputLength: number): TokenRange[] {
  const needed = kept.length + inputLength - (slot.sequence.contextSize - 1);
  if (needed <= 0) return [];
  const ranges = rangesToErase(shift.strategy({ tokens: kept, size: Math.max(shift.size, needed) }), kept.length);
  if (rangeLength(ranges) < needed)
    throw new ContextOverflowError(
      `This prompt does not fit in conversation "${slot.id}" beside what it must keep (its start or system prompt): ` +
        `shorten the prompt or the system prompt, or load with a larger contextSize. The conversation is unchanged.`,
    );
  return ranges;
}

/** A range of a history of `length` tokens, clamped to `[1, length)`; undefined when that is empty. */
function clampRange(range: TokenRange, length: number): TokenRange | undefined {
  const start = Math.max(1, range.start);
  const end = Math.min(length, range.end);
  return start < end ? { start, end } : undefined;
}

/** The tokens less the range. */
function without(tokens: readonly Token[], range: TokenRange | undefined): Token[] {
  return range === undefined ? [...tokens] : [...tokens.slice(0, range.start), ...tokens.slice(range.end)];
}

/** Erases a range of the history: its cells, and its tokens still waiting to be evaluated. */
async function eraseHistory(slot: Slot, range: TokenRange): Promise<void> {
  const { sequence } = slot;
  const evaluated = sequence.nextTokenIndex;
  // Waiting tokens by their place in the history, before the cells move down.
  const pending = slot.pendingTokens.filter((_, i) => evaluated + i < range.start || evaluated + i >= range.end);
  if (range.start < evaluated) await sequence.eraseContextTokenRanges([{ start: range.start, end: Math.min(range.end, evaluated) }]);
  slot.pendingTokens = pending;
}

/**
 * node-llama-cpp's hook for a slot that fills up while it decodes (a long prompt or reply): the
 * slot's strategy chooses, node-llama-cpp erases.
 */
function midReplyShift(slot: Slot, shift: ResolvedContextShift) {
  return ({ sequence, size }: { sequence: LlamaContextSequence; size: number }): TokenRange[] => {
    let ranges = plannedRanges(shift, sequence, size);
    // The decode cannot go on without room: erase from the beginning when the strategy would not.
    if (ranges.length === 0) ranges = rangesToErase(eraseBeginning({ tokens: sequence.contextTokens, size }), sequence.nextTokenIndex);
    recordShift(slot, shift, rangeLength(ranges));
    return ranges;
  };
}

function plannedRanges(shift: ResolvedContextShift, sequence: LlamaContextSequence, size: number): TokenRange[] {
  return rangesToErase(shift.strategy({ tokens: sequence.contextTokens, size }), sequence.nextTokenIndex);
}

function recordShift(slot: Slot, shift: ResolvedContextShift | false, erasedTokens: number): void {
  slot.erasedTokens += erasedTokens;
  if (shift !== false) shift.onShift?.(erasedTokens);
}

/**
 * The tokens a prompt adds after the first `keep` tokens of the history; text gets the start
 * token when it opens the conversation. Text that can never fit is refused before it is
 * tokenized; long text is tokenized in pieces, and `closeSignal` ends that between pieces.
 */
async function promptTokens(slot: Slot, prompt: SlotPrompt | undefined, keep: number, closeSignal: AbortSignal): Promise<Token[]> {
  if (typeof prompt === "object") return [...prompt.tokens];
  const { model, contextSize } = slot.sequence;
  const fromEmpty = keep === 0;
  const start = fromEmpty && model.tokens.shouldPrependBosToken && model.tokens.bos != null ? [model.tokens.bos] : [];
  if (typeof prompt !== "string" || prompt.length === 0) return start;
  const tokenizer = PromptTokenizer.of(model);
  // With context shift the history makes room, but the prompt itself must fit in a slot.
  const room = slot.shift === false ? { tokens: contextSize - keep, conversation: slot.id } : { tokens: contextSize };
  assertPromptLength(prompt.length, { ...room, charsPerToken: tokenizer.charsPerToken });
  // Later prompts continue the text: no tokenizer-added leading space in the middle of it.
  const tokens = await tokenizer.tokenize(prompt, { continuation: !fromEmpty, signal: closeSignal });
  return start.length === 0 ? tokens : [...start, ...tokens];
}

/** To generate with no new input, the last evaluated token is evaluated again to get its logits. */
async function takeBackLastToken(slot: Slot): Promise<Token[]> {
  const { sequence } = slot;
  const last = sequence.contextTokens.at(-1);
  if (last === undefined)
    throw new InvalidArgumentError(
      `Slot "${slot.id}" is empty and this model has no start token: give it a prompt (setPrompt, or a scope's prompt text) first.`,
    );
  await sequence.eraseContextTokenRanges([{ start: sequence.nextTokenIndex - 1, end: sequence.nextTokenIndex }]);
  return [last];
}

/**
 * The model generated a few tokens past the stop string's start. Those are erased from the KV
 * cache; text between the last whole kept token and the stop string is re-tokenized as pending.
 * Returns how many tokens of the reply the history keeps, how many of the generated ones it kept
 * whole, and the text it kept of the next one.
 */
async function cutAtStop(
  slot: Slot,
  generated: readonly Token[],
  textEnds: readonly number[],
  matcher: StopMatcher,
): Promise<{ tokenCount: number; kept: number; tail: string }> {
  const { sequence } = slot;
  const stopAt = matcher.stoppedAt ?? 0;
  let kept = 0;
  while (kept < generated.length && (textEnds[kept] ?? Infinity) <= stopAt) kept++;
  // All generated tokens but the last are in the KV cache, the newest at its end. Counting from
  // the end stays right when a context shift erased older tokens during the reply.
  const evaluatedCount = generated.length - 1;
  if (kept < evaluatedCount)
    await sequence.eraseContextTokenRanges([{ start: sequence.nextTokenIndex - (evaluatedCount - kept), end: sequence.nextTokenIndex }]);
  const keptTextEnd = kept === 0 ? 0 : (textEnds[kept - 1] ?? 0);
  const tail = matcher.reply.slice(keptTextEnd);
  const tailTokens = tail.length > 0 ? sequence.model.tokenize(tail, false, "trimLeadingSpace") : [];
  slot.pendingTokens = [...generated.slice(evaluatedCount, kept), ...tailTokens];
  return { tokenCount: kept + tailTokens.length, kept, tail };
}
