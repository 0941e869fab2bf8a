// node-llama-cpp's `GbnfJsonSchema` (its JSON schema subset for grammars), copied so that
// llama-scope's declarations do not load node-llama-cpp's. Values of either type are values of the
// other (test/package/typesCompat.test.ts). Type aliases, as node-llama-cpp's are.

/**
 * A JSON schema the `jsonSchema` generate option takes: node-llama-cpp's subset (`GbnfJsonSchema`).
 * Unlike JSON Schema, an object's `additionalProperties` defaults to `false` and every property
 * in `properties` is required.
 */
export type JsonSchema =
  | JsonSchemaBasic
  | JsonSchemaConst
  | JsonSchemaEnum
  | JsonSchemaOneOf
  | JsonSchemaString
  | JsonSchemaObject
  | JsonSchemaArray
  | JsonSchemaRef;

/** The JSON types a schema's `type` names. */
export type JsonSchemaType = "string" | "number" | "integer" | "boolean" | "null";

/** A value of one of these types. */
export type JsonSchemaBasic = {
  readonly type: JsonSchemaType | readonly JsonSchemaType[];
  /** What the value is for (node-llama-cpp shows it to the model only in function calling). */
  readonly description?: string;
};

/** Exactly this value. */
export type JsonSchemaConst = {
  readonly const: string | number | boolean | null;
  readonly description?: string;
};

/** One of these values. */
export type JsonSchemaEnum = {
  readonly enum: readonly (string | number | boolean | null)[];
  readonly description?: string;
};

/** A value of one of these schemas. */
export type JsonSchemaOneOf = {
  readonly oneOf: readonly JsonSchema[];
  readonly description?: string;
  readonly $defs?: Readonly<Record<string, JsonSchema>>;
};

/** A string: of a length, or of a date/time format. */
export type JsonSchemaString =
  | {
      readonly type: "string";
      /** Tell the model the length you expect too (in the prompt or `description`). */
      readonly minLength?: number;
      readonly maxLength?: number;
      readonly description?: string;
    }
  | {
      readonly type: "string";
      readonly format: "date-time" | "time" | "date";
      readonly description?: string;
    };

/** An object with these properties, all of them required, in this order. */
export type JsonSchemaObject = {
  readonly type: "object";
  readonly properties?: { readonly [key: string]: JsonSchema };
  /** Other properties: `false` (the default: none), `true` (any value) or their schema. */
  readonly additionalProperties?: boolean | JsonSchema;
  /** With `additionalProperties`: how many properties at least. */
  readonly minProperties?: number;
  /** With `additionalProperties`: how many properties at most. */
  readonly maxProperties?: number;
  /** @deprecated Has no effect: every property in `properties` is required. */
  readonly required?: readonly string[];
  readonly description?: string;
  readonly $defs?: Readonly<Record<string, JsonSchema>>;
};

/** An array: its first items of `prefixItems`' schemas, the others of `items`'. */
export type JsonSchemaArray = {
  readonly type: "array";
  readonly items?: JsonSchema;
  readonly prefixItems?: readonly JsonSchema[];
  /** Tell the model the length you expect too (in the prompt). */
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly description?: string;
  readonly $defs?: Readonly<Record<string, JsonSchema>>;
};

/** The schema named `name` in the `$defs` of this schema or of one it is in: `{ $ref: "#/$defs/name" }`. */
export type JsonSchemaRef = {
  readonly $ref: `#/$defs/${string}`;
  readonly description?: string;
  readonly $defs?: Readonly<Record<string, JsonSchema>>;
};
