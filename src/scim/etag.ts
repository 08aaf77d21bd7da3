import { createHash } from 'node:crypto';
import { canonicalJson } from '../audit/canonical-json.js';
import { preconditionFailed } from './errors.js';
import type { ScimDocument } from './schemas.js';

/**
 * RFC 7644 §3.14: a weak entity tag over the whole resource as served (without the version
 * itself), so any change (an attribute, a membership) gives a new version.
 */
export function versionOf(document: ScimDocument): string {
  const { meta, ...rest } = document;
  const { version: _version, ...metaRest } = (meta ?? {}) as ScimDocument;
  const digest = createHash('sha256')
    .update(canonicalJson({ ...rest, meta: metaRest }))
    .digest('base64url');
  return `W/"${digest.slice(0, 22)}"`;
}

/** The resource with `meta.version` set. */
export function withVersion(document: ScimDocument): ScimDocument {
  const version = versionOf(document);
  return { ...document, meta: { ...(document.meta as ScimDocument), version } };
}

function tags(header: string): string[] {
  return header
    .split(',')
    .map((tag) => tag.trim())
    .filter((tag) => tag.length > 0);
}

/** Weak comparison (RFC 9110 §8.8.3.2): `W/"x"` and `"x"` name the same version. */
function sameTag(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

/** RFC 7644 §3.14 / RFC 9110 §13.1.1: a write under If-Match proceeds only on the current version. */
export function assertIfMatch(header: string | undefined, current: string): void {
  if (header === undefined) return;
  const list = tags(header);
  if (list.includes('*')) return;
  if (!list.some((tag) => sameTag(tag, current))) throw preconditionFailed();
}

/** RFC 9110 §13.1.2: a GET under If-None-Match naming the current version is answered 304. */
export function notModified(header: string | undefined, current: string): boolean {
  if (header === undefined) return false;
  const list = tags(header);
  return list.includes('*') || list.some((tag) => sameTag(tag, current));
}
