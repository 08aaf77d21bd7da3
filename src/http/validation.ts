import Ajv, { type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const shared: Options = {
  // Unknown fields are an error, not silently dropped: a typo in a policy must not pass unnoticed.
  removeAdditional: false,
  useDefaults: true,
  // allErrors stays off: collecting every error of a hostile body is a DoS vector.
  allErrors: false,
  addUsedSchema: false,
  // `example` and OpenAPI annotations are documentation, not validation keywords.
  strict: false,
};

/**
 * Query strings and path parameters arrive as text and are coerced to their schema types; JSON
 * bodies are not, so `{"name": 123}` is refused instead of becoming "123".
 */
export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = addFormats.default(new Ajv.default({ ...shared, coerceTypes: false }));
  const coercing = addFormats.default(new Ajv.default({ ...shared, coerceTypes: 'array' }));
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema as object);
}
