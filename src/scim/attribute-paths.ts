import type { AttributeInfo, ResourceSchema, ScimDocument } from './schemas.js';

/** An attribute named in a filter, a sort or a projection: `attr`, `attr.sub`, optionally URN-qualified. */
export interface AttributePath {
  /** The extension schema the attribute belongs to; undefined for the core schema. */
  extension?: string;
  attr: string;
  sub?: string;
  /** The attribute's definition (the sub-attribute's when `sub` is set). */
  info: AttributeInfo;
}

const ATTR_NAME = /^[A-Za-z$][\w$-]*$/;

/**
 * Parses `text` as an attribute path of `schema` (RFC 7644 §3.10, `attrPath = [URI ":"] ATTRNAME
 * *1subAttr`). Undefined when it is malformed or names no attribute of the schema.
 */
export function parseAttributePath(text: string, schema: ResourceSchema, parent?: AttributePath): AttributePath | undefined {
  let extension: string | undefined;
  let rest = text;
  if (!parent && text.toLowerCase().startsWith('urn:')) {
    const split = schema.splitUrn(text);
    if (!split || split.rest === '') return undefined;
    if (schema.isExtension(split.schema)) extension = split.schema;
    rest = split.rest;
  }
  const segments = rest.split('.');
  if (segments.length > 2 || segments.some((s) => !ATTR_NAME.test(s))) return undefined;
  const [attr, sub] = parent ? [parent.attr, segments[0] as string] : (segments as [string, string | undefined]);
  if (parent && (segments.length > 1 || parent.sub)) return undefined;
  const prefix = (parent?.extension ?? extension) ? `${parent?.extension ?? extension}:` : '';
  const info = schema.attribute(`${prefix}${attr}${sub ? `.${sub}` : ''}`);
  if (!info) return undefined;
  const ext = parent?.extension ?? extension;
  return { ...(ext && { extension: ext }), attr, ...(sub && { sub }), info };
}

export function isObject(value: unknown): value is ScimDocument {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Attribute names are case-insensitive (RFC 7643 §2.1). */
export function keyOf(object: ScimDocument, name: string): string | undefined {
  if (name in object) return name;
  const lower = name.toLowerCase();
  return Object.keys(object).find((key) => key.toLowerCase() === lower);
}

export function getAttribute(object: unknown, name: string): unknown {
  if (!isObject(object)) return undefined;
  const key = keyOf(object, name);
  return key === undefined ? undefined : object[key];
}

/** The object holding the path's attribute: the resource itself, or its extension's object. */
export function containerOf(document: ScimDocument, path: AttributePath): unknown {
  return path.extension ? getAttribute(document, path.extension) : document;
}

/**
 * Every value the path reaches in the resource: one for a single-valued attribute, one per
 * element of a multi-valued one (each element's sub-attribute when `sub` is set).
 */
export function valuesAt(document: ScimDocument, path: AttributePath): unknown[] {
  const value = getAttribute(containerOf(document, path), path.attr);
  if (value === undefined || value === null) return [];
  const items = Array.isArray(value) ? value : [value];
  if (!path.sub) return items;
  const sub = path.sub;
  return items.map((item) => getAttribute(item, sub)).filter((v) => v !== undefined && v !== null);
}
