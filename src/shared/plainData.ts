import { types } from "node:util";

/**
 * Checks for option values that must reach a worker thread unchanged. Structured cloning keeps
 * only plain data: it drops prototypes, accessors on them and Symbol keys, and refuses functions.
 * A value that passes these checks means the same on both sides of the thread boundary.
 */

/**
 * An object literal (or `Object.create(null)`): no class, no array, nothing inherited. Realm-blind
 * on purpose: objects made by `structuredClone`, a `vm` context or Jest's sandbox have another
 * realm's `Object.prototype` and are just as plain.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === null || (Object.getPrototypeOf(prototype) === null && classOf(value)?.name === "Object");
}

/** The class `value` is a direct instance of (its prototype's own `constructor`), if it is one. */
function classOf(value: object): { name: string } | undefined {
  const prototype = Object.getPrototypeOf(value) as { constructor?: unknown } | null;
  const maker = prototype !== null && Object.hasOwn(prototype, "constructor") ? prototype.constructor : undefined;
  return typeof maker === "function" && maker.prototype === prototype ? maker : undefined;
}

/** An array literal, of any realm: only `Array.prototype` is itself an array, not a subclass's prototype. */
function isPlainArray(value: unknown): value is unknown[] {
  return Array.isArray(value) && Array.isArray(Object.getPrototypeOf(value));
}

/** A short description of a value for error messages: what was passed, not its contents. */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "function":
      return "a function";
    case "symbol":
      return "a Symbol";
    case "bigint":
      return `a BigInt (${value}n)`;
    case "string":
      return JSON.stringify(value);
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) return "an array";
      if (isPlainObject(value)) return "an object";
      // Anything not made by a class was made on another object (Object.create).
      const name = classOf(value)?.name;
      return name ? `an instance of ${name}` : "an object with a custom prototype";
    }
    default:
      return String(value);
  }
}

/** Deeper than this is refused rather than risking the stack (node-llama-cpp stops at 512 too). */
const MAX_JSON_DEPTH = 512;

/**
 * Where `value` stops being JSON, as `"<path> must be …, not …"`, or undefined when all of it is:
 * strings, finite numbers, booleans, null, arrays and plain objects, no cycles.
 */
export function jsonProblem(value: unknown, path: string): string | undefined {
  return problemAt(value, path, new Set(), 0);
}

function problemAt(value: unknown, path: string, ancestors: Set<object>, depth: number): string | undefined {
  if (value === null || typeof value === "string" || typeof value === "boolean") return undefined;
  if (typeof value === "number") return Number.isFinite(value) ? undefined : `${path} must be a finite number, not ${String(value)}`;
  const expected = `${path} must be a JSON value (a string, finite number, boolean, null, array or plain object)`;
  const isArray = isPlainArray(value);
  if (typeof value !== "object" || !(isArray || isPlainObject(value))) return `${expected}, not ${describeValue(value)}`;
  if (ancestors.has(value)) return `${path} refers back to an object that contains it; JSON cannot hold a cycle`;
  if (depth >= MAX_JSON_DEPTH) return `${path} is nested more than ${MAX_JSON_DEPTH} levels deep`;
  const symbols = Object.getOwnPropertySymbols(value);
  if (symbols.length > 0) return `${path} must have string keys only, not ${String(symbols[0])}`;
  ancestors.add(value);
  try {
    if (isArray) {
      for (let i = 0; i < value.length; i++) {
        const problem = problemAt(value[i], `${path}[${i}]`, ancestors, depth + 1);
        if (problem !== undefined) return problem;
      }
    } else {
      for (const [key, item] of Object.entries(value)) {
        const problem = problemAt(item, `${path}${propertyPath(key)}`, ancestors, depth + 1);
        if (problem !== undefined) return problem;
      }
    }
    return undefined;
  } finally {
    ancestors.delete(value);
  }
}

/** `.name` for identifier-like keys, `["odd key"]` for the rest, as a reader would write them. */
export function propertyPath(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/**
 * Where `value` stops being data that structured cloning (what carries options to a worker
 * thread or process) copies as it is, as `"<path> is …"`, or undefined: a function, a Symbol or
 * a Proxy anywhere in its plain objects and arrays, or another object `structuredClone` refuses
 * (a class instance holding a function).
 */
export function cloneProblem(value: unknown, path: string): string | undefined {
  return cloneProblemAt(value, path, new Set());
}

function cloneProblemAt(value: unknown, path: string, ancestors: Set<object>): string | undefined {
  if (typeof value === "function" || typeof value === "symbol") return `${path} is ${describeValue(value)}`;
  if (value === null || typeof value !== "object" || ancestors.has(value)) return undefined;
  // A Proxy (a reactive framework's state) looks like what it wraps, but cloning refuses it.
  if (types.isProxy(value)) return `${path} is a Proxy`;
  if (isPlainArray(value) || isPlainObject(value)) {
    ancestors.add(value);
    try {
      for (const [key, item] of Object.entries(value)) {
        const problem = cloneProblemAt(item, isPlainArray(value) ? `${path}[${key}]` : `${path}${propertyPath(key)}`, ancestors);
        if (problem !== undefined) return problem;
      }
      return undefined;
    } finally {
      ancestors.delete(value);
    }
  }
  // Anything else (a Uint8Array, a Date, a class instance) is as cloning takes it.
  try {
    structuredClone(value);
    return undefined;
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).replace(/\.$/, "");
    return `${path} (${describeValue(value)}) cannot be copied to another thread: ${reason}`;
  }
}
