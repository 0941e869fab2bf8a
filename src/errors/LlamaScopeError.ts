/**
 * Base class of every error llama-scope throws on purpose.
 *
 * Each subclass has a stable `name` (also used to rebuild the class when an error crosses a
 * thread boundary) and a message that says what to do about it.
 */
export class LlamaScopeError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
