import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { ApiRequest, ToolEntry } from '../providers/types.js';
import { ToolInputError } from './errors.js';

const INPUT_REF = /^\$input\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)$/;
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const ABSENT = Symbol('absent');

// Schemas are catalog data, compiled once each: the validator cache is keyed by schema object.
// allErrors stays off (as in http/validation.ts): collecting every error of a hostile input is a DoS vector.
let ajv: Ajv.default | undefined;
const validators = new WeakMap<object, ValidateFunction>();

function validatorFor(schema: Record<string, unknown>): ValidateFunction {
  let validate = validators.get(schema);
  if (!validate) {
    ajv ??= addFormats.default(new Ajv.default({ allErrors: false, useDefaults: true, coerceTypes: false, strict: true }));
    validate = ajv.compile(schema);
    validators.set(schema, validate);
  }
  return validate;
}

/** Compiles a tool's input schema (cached); throws on a schema ajv refuses. For catalog tests. */
export function compileToolSchema(tool: ToolEntry): void {
  validatorFor(tool.inputSchema);
}

function lookup(input: unknown, path: string): unknown {
  let value: unknown = input;
  for (const key of path.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return ABSENT;
    value = (value as Record<string, unknown>)[key];
  }
  return value === undefined ? ABSENT : value;
}

function fillTemplate(template: unknown, input: unknown): unknown {
  if (typeof template === 'string') {
    const ref = INPUT_REF.exec(template);
    return ref?.[1] ? lookup(input, ref[1]) : template;
  }
  if (Array.isArray(template)) {
    return template.map((item) => fillTemplate(item, input)).filter((item) => item !== ABSENT);
  }
  if (typeof template === 'object' && template !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(template)) {
      const filled = fillTemplate(value, input);
      if (filled !== ABSENT) out[key] = filled;
    }
    return out;
  }
  return template;
}

function queryValue(name: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new ToolInputError([`${name} cannot be sent as a query parameter`]);
}

/**
 * Turns a tool's input into one API request relative to the provider's base: validates `input`
 * against the tool's schema (ajv, defaults applied to a copy), fills `{name}` path placeholders
 * with the URL-encoded input field, and `$input.x` references in the query and body templates
 * (absent optional fields are dropped). Throws `ToolInputError`. The path is still to be checked
 * with `resolveApiUrl` against the account's API base.
 */
export function buildToolRequest(tool: ToolEntry, input: unknown): ApiRequest {
  const validate = validatorFor(tool.inputSchema);
  const value: unknown = structuredClone(input);
  if (!validate(value)) {
    const errors = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`.trim());
    throw new ToolInputError(errors.length > 0 ? errors : ['does not match the schema']);
  }
  const path = tool.request.path.replace(PLACEHOLDER, (_match, name: string) => {
    const field = lookup(value, name);
    if ((typeof field !== 'string' && typeof field !== 'number') || field === '') {
      throw new ToolInputError([`/${name} is required in the request path`]);
    }
    return encodeURIComponent(String(field));
  });
  const request: ApiRequest = { method: tool.request.method, path };
  if (tool.request.query) {
    const query: Record<string, string> = {};
    for (const [key, template] of Object.entries(tool.request.query)) {
      const filled = fillTemplate(template, value);
      if (filled !== ABSENT) query[key] = queryValue(key, filled);
    }
    if (Object.keys(query).length > 0) request.query = query;
  }
  if (tool.request.body !== undefined) {
    const body = fillTemplate(tool.request.body, value);
    if (body !== ABSENT) request.body = body;
  }
  return request;
}
