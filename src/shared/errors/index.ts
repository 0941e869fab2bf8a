export { LlamaScopeError } from "./LlamaScopeError.js";
export * from "./errors.js";
export { reviveError } from "./reviveError.js";
