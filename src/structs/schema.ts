import { is, type Struct } from 'superstruct';

/** A JSON Schema (the OpenAPI 3.1 dialect), as far as this API needs one. */
export type JsonSchema = { [key: string]: unknown };

// Superstruct keeps no description of its refinements, so the structs that carry one (a length, a range, a
// format) register it here. The key is the struct's coercer: optional(), nullable() and refine() pass it
// on unchanged, so a field wrapped in those still finds its entry.
const documentedStructs = new Map<unknown, JsonSchema>();

/** Records what `struct` accepts, for the OpenAPI document; returns the struct itself. */
export function documented<S extends Struct<any, any>>(struct: S, schema: JsonSchema): S {
  documentedStructs.set(struct.coercer, schema);
  return struct;
}

/** The JSON Schema of a struct as the routes validate with it. */
export function toJsonSchema(struct: Struct<any, any>): JsonSchema {
  const base = documentedStructs.get(struct.coercer) ?? inferred(struct);
  // Whether it was wrapped in nullable() shows only by probing; a schema of anything takes null already.
  const takesAnything = Object.keys(base).length === 0 || (Object.keys(base).length === 1 && 'description' in base);
  return is(null, struct) && !takesAnything ? { anyOf: [base, { type: 'null' }] } : base;
}

function inferred(struct: Struct<any, any>): JsonSchema {
  switch (struct.type) {
    case 'string':
      return { type: 'string' };
    case 'integer':
      return { type: 'integer' };
    case 'number':
      return { type: 'number' };
    case 'boolean':
      return { type: 'boolean' };
    case 'enums':
      return { enum: Object.values(struct.schema as Record<string, unknown>) };
    case 'array':
      return { type: 'array', items: struct.schema ? toJsonSchema(struct.schema as Struct<any, any>) : {} };
    case 'type':
    case 'object':
      return objectSchema(struct);
    default:
      return {};
  }
}

/** An object struct's properties, with `required` for the fields that cannot be absent. */
export function objectSchema(struct: Struct<any, any>): JsonSchema {
  const fields = struct.schema as Record<string, Struct<any, any>>;
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [name, field] of Object.entries(fields)) {
    properties[name] = toJsonSchema(field);
    if (!is(undefined, field)) required.push(name);
  }
  return { type: 'object', properties, ...(required.length > 0 ? { required } : {}) };
}
