import type { GbnfJsonSchema, Llama as LlamaBackend, LlamaGrammar } from "node-llama-cpp";
import { InvalidArgumentError } from "../../shared/errors/index.js";
import type { GrammarRequest } from "./GenerateOptions.js";
import { LruMap } from "../../shared/LruMap.js";

/** Distinct grammars kept per `Llama`; a chat app uses a handful, so 32 is plenty. */
const DEFAULT_CAPACITY = 32;

/**
 * node-llama-cpp ends every JSON-schema grammar with four newlines and any number more: `LlamaChat`
 * stops at them and trims them. Our replies are the JSON alone, so this tail is cut; once the JSON
 * is complete the grammar then allows only the end-of-text token, and the reply ends as end of text.
 */
const JSON_GRAMMAR_TAIL = ' "\\n\\n\\n\\n" [\\n]*';

/**
 * The grammars one `Llama` has compiled, by grammar text or schema, so each distinct grammar is
 * parsed by llama.cpp once rather than at every call. The least recently used entry is dropped
 * past `capacity`. node-llama-cpp grammars own no handle to release (llama.cpp's copy is freed
 * with the JavaScript object), so dropping an entry, or {@link clear}, is all disposal takes.
 */
export class GrammarCache {
  private readonly entries = new LruMap<string, Promise<LlamaGrammar>>();
  private compilations = 0;

  constructor(
    private readonly backend: LlamaBackend,
    readonly capacity: number = DEFAULT_CAPACITY,
  ) {}

  /** Grammars held now. */
  get size(): number {
    return this.entries.size;
  }

  /** Grammars compiled since this cache was made (cache misses). */
  get compiled(): number {
    return this.compilations;
  }

  /**
   * The compiled grammar for `request`, compiling it on first use.
   * @throws {InvalidArgumentError} when llama.cpp cannot parse the grammar; such a result is not kept.
   */
  get(request: GrammarRequest): Promise<LlamaGrammar>;
  get(request: GrammarRequest | undefined): Promise<LlamaGrammar | undefined>;
  get(request: GrammarRequest | undefined): Promise<LlamaGrammar | undefined> {
    if (request === undefined) return Promise.resolve(undefined);
    const cached = this.entries.get(request.key);
    if (cached !== undefined) return cached;
    this.compilations++;
    const grammar = this.compile(request);
    this.entries.set(request.key, grammar);
    // Only a grammar that compiled takes a place: a refused one leaves the cache as it was.
    grammar.then(
      () => void this.entries.trim(this.capacity),
      () => {
        if (this.entries.peek(request.key) === grammar) this.entries.delete(request.key);
      },
    );
    return grammar;
  }

  /** Drops every grammar (the owning `Llama` is being disposed). */
  clear(): void {
    this.entries.clear();
  }

  private async compile(request: GrammarRequest): Promise<LlamaGrammar> {
    try {
      if (request.kind === "gbnf") return await this.backend.createGrammar({ grammar: request.gbnf });
      const json = await this.backend.createGrammarForJsonSchema<GbnfJsonSchema>(request.schema);
      const gbnf = withoutJsonTail(json.grammar);
      return gbnf === json.grammar ? json : await this.backend.createGrammar({ grammar: gbnf });
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new InvalidArgumentError(
        request.kind === "gbnf"
          ? `grammar is not a GBNF grammar llama.cpp can use (${reason}; llama.cpp logs where). Its start rule must be named root, e.g. root ::= ("yes" | "no").`
          : `jsonSchema could not be turned into a grammar (${reason}). Pass a schema of the JsonSchema type (node-llama-cpp's GbnfJsonSchema subset).`,
        { cause },
      );
    }
  }
}

/** The grammar without {@link JSON_GRAMMAR_TAIL} at the end of its first (root) rule; unchanged if absent. */
function withoutJsonTail(gbnf: string): string {
  const rootEnd = gbnf.includes("\n") ? gbnf.indexOf("\n") : gbnf.length;
  const root = gbnf.slice(0, rootEnd);
  return root.endsWith(JSON_GRAMMAR_TAIL) ? root.slice(0, -JSON_GRAMMAR_TAIL.length) + gbnf.slice(rootEnd) : gbnf;
}
