import { badRequest } from "../ApiError.js";

/** A JSON request body as an object of fields; anything else is a 400. */
export type Body = Record<string, unknown>;

export function objectBody(body: unknown): Body {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw badRequest(
      'The request body must be a JSON object, e.g. { "messages": [{ "role": "user", "content": "Hello" }] }.',
      null,
      "invalid_body",
    );
  return body as Body;
}

/** A number field in [min, max], or undefined when absent (or null, as OpenAI's clients send it). */
export function numberField(body: Body, name: string, min: number, max: number): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max)
    throw badRequest(`${name} must be a number from ${min} to ${max}, not ${JSON.stringify(value)}.`, name);
  return value;
}

/** A whole-number field of at least `min`, or undefined when absent. */
export function integerField(body: Body, name: string, min: number): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min)
    throw badRequest(`${name} must be a whole number of at least ${min}, not ${JSON.stringify(value)}.`, name);
  return value;
}

/** A boolean field, or undefined when absent; `param` names it in an error (a nested field's path). */
export function booleanField(body: Body, name: string, param = name): boolean | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw badRequest(`${param} must be true or false, not ${JSON.stringify(value)}.`, param);
  return value;
}

export function stringField(body: Body, name: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw badRequest(`${name} must be a string, not ${JSON.stringify(value)}.`, name);
  return value;
}

/** Refuses a field this server cannot honour, unless it has the harmless value `allowed(value)` accepts. */
export function refuseField(body: Body, name: string, why: string, allowed: (value: unknown) => boolean = () => false): void {
  const value = body[name];
  if (value === undefined || value === null || allowed(value)) return;
  throw badRequest(`${name} is not supported by this server: ${why}`, name, "unsupported_parameter");
}
