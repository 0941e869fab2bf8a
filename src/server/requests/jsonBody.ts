import type { FastifyInstance } from "fastify";
import { badRequest } from "../ApiError.js";

/**
 * Parses JSON request bodies in place of Fastify's parser, which calls a body with a
 * `"__proto__"` key (or a `"constructor": { "prototype": … }`) "not valid JSON". Such keys are
 * refused, because merging them into an object can change its prototype, with a message that
 * says so and where the key is; bodies that are not JSON are told apart from them.
 */
export function parseJsonBodies(app: FastifyInstance): void {
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, text, done) => {
    if (text.length === 0) return done(badRequest("The request body is empty: send a JSON object.", null, "invalid_body"), undefined);
    let body: unknown;
    try {
      body = JSON.parse(text as string);
    } catch (error) {
      return done(badRequest(`The request body is not valid JSON (${(error as Error).message}).`, null, "invalid_body"), undefined);
    }
    const where = prototypeKey(body, "body");
    if (where !== undefined)
      return done(
        badRequest(
          `The request body has a key ${where}, which this server refuses: such a key can change the prototype of objects it is merged into. Rename or remove it.`,
          null,
          "invalid_body",
        ),
        undefined,
      );
    done(null, body);
  });
}

/** Where `value` holds a `__proto__` key or a `constructor.prototype`, e.g. `"__proto__" in body.messages[0]`; undefined when nowhere. */
function prototypeKey(value: unknown, path: string): string | undefined {
  // Iterative, so that a deeply nested body cannot overflow the stack.
  const stack: [unknown, string][] = [[value, path]];
  while (stack.length > 0) {
    const [node, at] = stack.pop()!;
    if (typeof node !== "object" || node === null) continue;
    if (Array.isArray(node)) {
      node.forEach((item, i) => stack.push([item, `${at}[${i}]`]));
      continue;
    }
    if (Object.prototype.hasOwnProperty.call(node, "__proto__")) return `"__proto__" in ${at}`;
    const constructor = (node as Record<string, unknown>).constructor;
    if (
      Object.prototype.hasOwnProperty.call(node, "constructor") &&
      typeof constructor === "object" &&
      constructor !== null &&
      Object.prototype.hasOwnProperty.call(constructor, "prototype")
    )
      return `"constructor.prototype" in ${at}`;
    for (const [key, item] of Object.entries(node)) stack.push([item, `${at}.${key}`]);
  }
  return undefined;
}
