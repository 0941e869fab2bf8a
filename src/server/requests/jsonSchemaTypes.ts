import { badRequest } from "../ApiError.js";

/** The types a JSON schema's `type` may name (node-llama-cpp's subset takes these and no others). */
const TYPES = ["string", "number", "integer", "boolean", "null", "object", "array"];
/** Keywords whose value is one schema, an array of schemas, or an object of named schemas. */
const ONE = ["items", "additionalProperties", "not"];
const LIST = ["prefixItems", "oneOf", "anyOf", "allOf"];
const NAMED = ["properties", "$defs", "definitions"];

/**
 * Refuses a schema (with a 400 naming where) that has a `type` that is no JSON type, such as
 * `{ "type": "frobnicate" }`, or a subschema that is not an object: a grammar built from it would
 * not be the schema the client meant. Walks the schema without recursion, so that a deeply
 * nested one cannot overflow the stack.
 */
export function checkSchemaTypes(schema: object, where: string): void {
  const stack: [unknown, string][] = [[schema, where]];
  while (stack.length > 0) {
    const [node, at] = stack.pop()!;
    if (typeof node !== "object" || node === null || Array.isArray(node)) throw badRequest(`${at} must be a JSON schema object.`, where);
    const { type } = node as { type?: unknown };
    const types = Array.isArray(type) ? type : [type];
    if (type !== undefined && (types.length === 0 || !types.every((t) => typeof t === "string" && TYPES.includes(t))))
      throw badRequest(
        `${at}.type must be one of ${TYPES.map((t) => `"${t}"`).join(", ")} (or an array of them), not ${JSON.stringify(type)}.`,
        where,
      );
    const fields = node as Record<string, unknown>;
    for (const key of ONE) if (fields[key] !== undefined && typeof fields[key] !== "boolean") stack.push([fields[key], `${at}.${key}`]);
    for (const key of LIST) if (Array.isArray(fields[key])) fields[key].forEach((item, i) => stack.push([item, `${at}.${key}[${i}]`]));
    for (const key of NAMED)
      if (typeof fields[key] === "object" && fields[key] !== null)
        for (const [name, item] of Object.entries(fields[key])) stack.push([item, `${at}.${key}.${name}`]);
  }
}
