export { LlamaScopeError } from "./LlamaScopeError.js";
export * from "./errors.js";
