import { InvalidRequest } from './errors.js';

/** Parameters that may legitimately repeat: RFC 8707 §2 `resource`. */
const REPEATABLE = new Set(['resource']);

export interface FormParams {
  params: Record<string, string | undefined>;
  resources: string[];
}

/**
 * Splits a parsed form body into single-valued parameters and resource indicators.
 * RFC 6749 §3.1: an empty parameter is as if omitted; parameters MUST NOT repeat (except
 * `resource`).
 */
export function readFormParams(body: unknown): FormParams {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InvalidRequest('the request body must be application/x-www-form-urlencoded');
  }
  const params: Record<string, string | undefined> = {};
  const resources: string[] = [];
  for (const [key, raw] of Object.entries(body as Record<string, unknown>)) {
    const values = (Array.isArray(raw) ? raw : [raw]).filter((v): v is string => typeof v === 'string' && v !== '');
    if (REPEATABLE.has(key)) {
      resources.push(...values);
      continue;
    }
    if (values.length > 1) throw new InvalidRequest(`parameter ${key} must not be repeated`);
    params[key] = values[0];
  }
  return { params, resources };
}
