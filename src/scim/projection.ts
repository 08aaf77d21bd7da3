import { type AttributePath, getAttribute, isObject, keyOf, parseAttributePath } from './attribute-paths.js';
import type { ResourceSchema, ScimDocument } from './schemas.js';

/** Which attributes a response carries (RFC 7644 §3.9 `attributes` / `excludedAttributes`). */
export interface Projection {
  attributes?: string[] | undefined;
  excludedAttributes?: string[] | undefined;
}

/** Attributes with `returned: always` (RFC 7643 §7): never left out. */
const ALWAYS = ['schemas', 'id'];

function listOf(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const names = text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  return names.length > 0 ? names : undefined;
}

export function projectionOf(query: { attributes?: string | undefined; excludedAttributes?: string | undefined }): Projection {
  return { attributes: listOf(query.attributes), excludedAttributes: listOf(query.excludedAttributes) };
}

/** The resource as the projection asks; names the schema does not know are ignored. */
export function project(document: ScimDocument, projection: Projection, schema: ResourceSchema): ScimDocument {
  if (projection.attributes) return include(document, projection.attributes, schema);
  if (projection.excludedAttributes) return exclude(document, projection.excludedAttributes, schema);
  return document;
}

function include(document: ScimDocument, names: string[], schema: ResourceSchema): ScimDocument {
  const out: ScimDocument = {};
  for (const name of ALWAYS) if (document[name] !== undefined) out[name] = document[name];
  for (const name of names) {
    const whole = wholeExtension(name, schema);
    if (whole) {
      if (document[whole] !== undefined) out[whole] = document[whole];
      continue;
    }
    const path = parseAttributePath(name, schema);
    if (path) copy(document, out, path);
  }
  return out;
}

function copy(from: ScimDocument, to: ScimDocument, path: AttributePath): void {
  const source = path.extension ? getAttribute(from, path.extension) : from;
  if (!isObject(source)) return;
  const key = keyOf(source, path.attr);
  if (key === undefined) return;
  if (path.extension && !isObject(to[path.extension])) to[path.extension] = {};
  const target = path.extension ? (to[path.extension] as ScimDocument) : to;
  const value = source[key];
  const sub = path.sub;
  if (!sub) {
    target[key] = value;
  } else if (Array.isArray(value)) {
    const existing = Array.isArray(target[key]) ? (target[key] as ScimDocument[]) : value.map(() => ({}));
    value.forEach((element, i) => {
      const subKey = isObject(element) ? keyOf(element, sub) : undefined;
      if (subKey !== undefined && existing[i]) (existing[i] as ScimDocument)[subKey] = (element as ScimDocument)[subKey];
    });
    target[key] = existing;
  } else if (isObject(value)) {
    const subKey = keyOf(value, sub);
    if (subKey !== undefined) target[key] = { ...(isObject(target[key]) ? target[key] : {}), [subKey]: value[subKey] };
  }
}

function exclude(document: ScimDocument, names: string[], schema: ResourceSchema): ScimDocument {
  const out = structuredClone(document);
  for (const name of names) {
    const whole = wholeExtension(name, schema);
    if (whole) {
      delete out[whole];
      continue;
    }
    const path = parseAttributePath(name, schema);
    if (!path || (!path.extension && !path.sub && ALWAYS.includes(path.attr))) continue;
    const container = path.extension ? getAttribute(out, path.extension) : out;
    if (!isObject(container)) continue;
    const key = keyOf(container, path.attr);
    if (key === undefined) continue;
    const sub = path.sub;
    if (!sub) {
      delete container[key];
      continue;
    }
    for (const element of [container[key]].flat()) {
      const subKey = isObject(element) ? keyOf(element, sub) : undefined;
      if (subKey !== undefined) delete (element as ScimDocument)[subKey];
    }
  }
  return out;
}

function wholeExtension(name: string, schema: ResourceSchema): string | undefined {
  const split = schema.splitUrn(name);
  return split && split.rest === '' && schema.isExtension(split.schema) ? split.schema : undefined;
}
