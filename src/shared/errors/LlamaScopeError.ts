/**
 * Base class of every error llama-scope throws on purpose.
 *
 * Each subclass has a stable `name` (also used to rebuild the class when an error crosses a
 * thread boundary), a stable `code` (`LLAMA_SCOPE_ERR_…`, the same for every instance of the
 * class, so it survives in JSON logs) and a message that says what to do about it. The codes are
 * listed in docs/api.md, Errors. (`code` is declared on each subclass, not here: the server's
 * `ApiError` has a `code` of its own, OpenAI's per-response one.)
 */
export class LlamaScopeError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
