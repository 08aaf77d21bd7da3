import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { InvalidRequestError } from '../errors.js';
import { OrganizationSettings, type OrganizationSettingsPatch } from './schemas.js';

type Json = unknown;

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * RFC 7396 JSON Merge Patch: members of `patch` replace those of `target`, `null` removes a
 * member, objects merge recursively, and anything else (arrays included) replaces the whole value.
 */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const result: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    // defineProperty: a member named "__proto__" stays a member instead of replacing the prototype.
    else
      Object.defineProperty(result, key, { value: mergePatch(result[key], value), enumerable: true, writable: true, configurable: true });
  }
  return result;
}

// The body validator's options (http/validation.ts): formats checked, nothing coerced or dropped.
const validate = addFormats
  .default(new Ajv.default({ removeAdditional: false, allErrors: false, coerceTypes: false, strict: false }))
  .compile(OrganizationSettings);

/**
 * The settings after applying `patch` to `current`, judged whole: the result is what is stored,
 * so it must be valid settings, whatever was stored before (400 otherwise, naming the member).
 */
export function patchSettings(current: OrganizationSettings, patch: OrganizationSettingsPatch): OrganizationSettings {
  const result = mergePatch(current, patch);
  if (!validate(result)) {
    const error = validate.errors?.[0];
    const where = `settings${error?.instancePath ?? ''}`;
    const extra = error?.keyword === 'additionalProperties' ? ` (${String(error.params.additionalProperty)})` : '';
    throw new InvalidRequestError(
      `the resulting ${where} ${error?.message ?? 'are invalid'}${extra}: send null for a setting to remove it`,
    );
  }
  return result as OrganizationSettings;
}
