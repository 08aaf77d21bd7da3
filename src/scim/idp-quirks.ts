import { isObject } from './attribute-paths.js';
import { ScimError } from './errors.js';
import { type FilterNode, matches, parseFilter } from './filter.js';
import { MAX_NESTING, tooDeep } from './nesting.js';
import type { ResourceSchema, ScimDocument } from './schemas.js';

/*
 * What real IdPs send that RFC 7644 does not quite allow, rewritten into what it does before
 * scimmy applies a PATCH (and, for booleans, before a POST or PUT is validated):
 * - Entra ID sends booleans as strings ("False") and `op` capitalised ("Replace");
 * - Entra ID sends the enterprise `manager` as a bare id instead of `{ "value": id }`;
 * - Entra ID replaces `emails[type eq "work"].value` on a user who has no work email yet,
 *   expecting it to be added (RFC 7644 §3.5.2.3 would answer noTarget);
 * - Entra ID sends `"$ref": null` in group members.
 */

const VALUE_PATH = /^([^[\]]+)\[(.+)\](?:\.([A-Za-z$][\w$-]*))?$/;

/** `"True"`/`"False"` where the schema says boolean; objects and arrays are walked, to `MAX_NESTING` deep. */
export function normalizeBooleans(value: unknown, schema: ResourceSchema, path: string, depth = 0): unknown {
  if (depth >= MAX_NESTING && typeof value === 'object' && value !== null) throw tooDeep();
  if (typeof value === 'string' && schema.attribute(path)?.type === 'boolean') {
    const lower = value.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
    return value;
  }
  if (Array.isArray(value)) return value.map((item) => normalizeBooleans(item, schema, path, depth + 1));
  if (isObject(value)) {
    const out: ScimDocument = {};
    for (const [key, inner] of Object.entries(value)) out[key] = normalizeBooleans(inner, schema, childPath(path, key, schema), depth + 1);
    return out;
  }
  return value;
}

/** `name` + `givenName` → `name.givenName`; an extension's URN key opens its namespace (`urn:…:User:`). */
function childPath(path: string, key: string, schema: ResourceSchema): string {
  if (path === '' || key.toLowerCase().startsWith('urn:')) return schema.splitUrn(key)?.rest === '' ? `${key}:` : key;
  return path.endsWith(':') ? `${path}${key}` : `${path}.${key}`;
}

function withoutNullMembers(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  return value.map((item) => (isObject(item) ? Object.fromEntries(Object.entries(item).filter(([, inner]) => inner !== null)) : item));
}

/** The element a value filter of plain `eq` tests describes, e.g. `{ type: "work" }`; undefined for any other filter. */
function elementOf(node: FilterNode): ScimDocument | undefined {
  if (node.kind === 'and') {
    const left = elementOf(node.left);
    const right = elementOf(node.right);
    return left && right ? { ...left, ...right } : undefined;
  }
  if (node.kind === 'compare' && node.op === 'eq' && node.path.sub && node.value !== null) return { [node.path.sub]: node.value };
  return undefined;
}

function normalizeOperation(operation: ScimDocument, document: ScimDocument, schema: ResourceSchema): ScimDocument {
  const op = typeof operation.op === 'string' ? operation.op.toLowerCase() : operation.op;
  const path = typeof operation.path === 'string' ? operation.path.trim() : operation.path;
  let value = operation.value;
  if (typeof path === 'string' && /^groups(\[|\.|$)/i.test(path))
    throw new ScimError(400, 'groups is read-only: change group memberships through /Groups', 'mutability');
  if (isObject(value) && path === undefined) {
    const { groups: _groups, ...rest } = value;
    value = rest;
  }
  if (typeof path !== 'string') return { ...operation, op, value: normalizeBooleans(value, schema, '') };

  const valuePath = VALUE_PATH.exec(path);
  const target = valuePath ? `${valuePath[1]}${valuePath[3] ? `.${valuePath[3]}` : ''}` : path;
  value = withoutNullMembers(normalizeBooleans(value, schema, target));
  const info = schema.attribute(target);
  if (info?.type === 'complex' && !info.multiValued && typeof value === 'string') value = { value };
  if (op === 'replace' && (value === null || value === '')) return { op: 'remove', path };

  if (valuePath && (op === 'replace' || op === 'add')) {
    const [, attr, filterText, sub] = valuePath as unknown as [string, string, string, string | undefined];
    let filter: FilterNode;
    try {
      filter = parseFilter(`${attr}[${filterText}]`, schema);
    } catch {
      return { op, path, value };
    }
    const element = filter.kind === 'valuePath' ? elementOf(filter.filter) : undefined;
    if (element && !matches(filter, document)) {
      const added = sub ? { ...element, [sub]: value } : isObject(value) ? { ...element, ...value } : undefined;
      if (added) return { op: 'add', path: attr, value: [added] };
    }
  }
  return { op, path, value };
}

/** The operations of a PatchOp request with the IdP quirks above rewritten. */
export function normalizeOperations(operations: unknown, document: ScimDocument, schema: ResourceSchema): unknown {
  if (!Array.isArray(operations)) return operations;
  return operations.map((operation) => (isObject(operation) ? normalizeOperation(operation, document, schema) : operation));
}
