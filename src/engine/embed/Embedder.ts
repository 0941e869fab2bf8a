import { setImmediate as nextTurn } from "node:timers/promises";
import type { LlamaEmbeddingContext, LlamaModel, Token } from "node-llama-cpp";
import type { ResolvedLoadOptions } from "../../loading/LlamaLoadOptions.js";
import { ContextOverflowError, DisposedError, LlamaScopeError, ModelLoadError } from "../../shared/errors/index.js";
import type { EmbeddingInfo, Embeddings } from "../../shared/Embeddings.js";
import { maxPromptLength } from "../../shared/promptLength.js";
import { errorText, openModel } from "../model/openModel.js";
import { PIECE_LENGTH, PromptTokenizer } from "../tokenize/PromptTokenizer.js";
import { unitNorm } from "./unitNorm.js";

/**
 * Computes embeddings for a `Llama`: with its model or a second one, in an embedding context of
 * its own (never a slot's sequence, so no conversation is touched), made at the first call so
 * that loads that never embed pay nothing for it. Texts of all calls take turns in that context.
 */
export class Embedder {
  private context: Promise<LlamaEmbeddingContext> | undefined;
  /** Calls under way: `dispose` waits for them before it frees what they use. */
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;

  private constructor(
    private readonly model: LlamaModel,
    /** True for a second model, which the embedder loaded and frees. */
    private readonly ownsModel: boolean,
    readonly info: EmbeddingInfo,
    private readonly threads: number,
  ) {}

  /**
   * The embedder the load's `embeddings` option asks for, or undefined when it is off. A second
   * model is loaded now, through the same path as the main one (`openModel`: a URI is downloaded).
   * @throws {ModelLoadError} when the embedding model cannot be loaded.
   */
  static async open(settings: ResolvedLoadOptions, main: LlamaModel, signal: AbortSignal | undefined): Promise<Embedder | undefined> {
    const { embeddings } = settings;
    if (embeddings === false) return undefined;
    let model = main;
    let modelPath = settings.modelPath;
    if (embeddings.modelPath !== undefined) {
      const opened = await openModel({ ...settings, modelPath: embeddings.modelPath }, signal === undefined ? {} : { signal }).catch(
        (cause: unknown) => {
          signal?.throwIfAborted();
          throw new ModelLoadError(`The embedding model (embeddings.modelPath) did not load: ${errorText(cause)}`, { cause });
        },
      );
      ({ model } = opened);
      modelPath = opened.settings.modelPath;
    }
    const contextSize = Math.min(embeddings.contextSize ?? settings.contextSize, model.trainContextSize);
    return new Embedder(model, model !== main, { modelPath, dimensions: model.embeddingVectorSize, contextSize }, settings.threads);
  }

  /** One unit-norm vector per text; the texts are checked (`embedTexts`) by the caller. */
  async embed(texts: readonly string[], signal: AbortSignal | undefined): Promise<Embeddings> {
    if (this.closed) throw disposedError();
    const work = this.run(texts, signal);
    this.running.add(work);
    try {
      return await work;
    } finally {
      this.running.delete(work);
    }
  }

  /** Waits for the calls under way (each stops after its current text), then frees the context and a second model. */
  async dispose(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.running);
    const context = await this.context?.catch(() => undefined);
    await context?.dispose();
    if (this.ownsModel) await this.model.dispose();
  }

  private async run(texts: readonly string[], signal: AbortSignal | undefined): Promise<Embeddings> {
    signal?.throwIfAborted();
    // node-llama-cpp refuses an input of contextSize tokens or more.
    const room = this.info.contextSize - 1;
    // Before any tokenizing (which blocks the thread): a text that can never fit is refused by its length.
    const longest = maxPromptLength({ tokens: room, charsPerToken: PromptTokenizer.of(this.model).charsPerToken });
    texts.forEach((text, index) => {
      if (text.length > longest) throw tooLong(index, `${text.length.toLocaleString("en-US")} characters`, room);
    });
    const context = await this.ensureContext();
    // Every text is measured before any is computed: a batch with one text too long fails whole.
    const inputs: { tokens: Token[]; tokenCount: number }[] = [];
    let unyielded = 0;
    for (const [index, text] of texts.entries()) {
      // Tokenizing blocks the thread: the other conversations' streams get a turn every few KB.
      unyielded += text.length;
      if (unyielded > PIECE_LENGTH) {
        await nextTurn();
        unyielded = 0;
      }
      const tokens = this.model.tokenize(text, false); // text, not special tokens: as a prompt's
      const tokenCount = context.calculateInputLength(tokens);
      if (tokenCount > room) throw tooLong(index, `${tokenCount.toLocaleString("en-US")} tokens`, room);
      inputs.push({ tokens, tokenCount });
    }
    const vectors: number[][] = [];
    for (const { tokens } of inputs) {
      signal?.throwIfAborted();
      if (this.closed) throw disposedError();
      vectors.push(unitNorm((await context.getEmbeddingFor(tokens)).vector));
    }
    return { vectors, tokenCounts: inputs.map(({ tokenCount }) => tokenCount) };
  }

  private ensureContext(): Promise<LlamaEmbeddingContext> {
    this.context ??= this.model
      .createEmbeddingContext({
        contextSize: this.info.contextSize,
        // An encoder model (BERT) must take a whole text in one batch; a decoder model keeps
        // node-llama-cpp's smaller default (a batch's compute memory grows with its size).
        ...(this.model.fileInsights.hasEncoder ? { batchSize: this.info.contextSize } : {}),
        // As the slots' context: more threads than free cores made llama.cpp over 50 times slower.
        threads: this.threads,
      })
      .catch((cause: unknown) => {
        this.context = undefined; // a later call tries again
        throw new LlamaScopeError(
          `Could not create the embedding context of ${this.info.contextSize} tokens (${errorText(cause)}). ` +
            "Load with a smaller embeddings.contextSize, or an embedding model (embeddings.modelPath).",
          { cause },
        );
      });
    return this.context;
  }
}

function tooLong(index: number, size: string, room: number): ContextOverflowError {
  return new ContextOverflowError(
    `Text ${index} is ${size} long; the embedding context takes ${room.toLocaleString("en-US")} tokens at most. ` +
      "Split the text into shorter pieces and embed each, or load with a larger embeddings.contextSize.",
  );
}

function disposedError(): DisposedError {
  return new DisposedError("The Llama was disposed while this embed call waited or ran. Load a new one.");
}
