import { type AttributePath, containerOf, getAttribute, isObject, parseAttributePath } from './attribute-paths.js';
import { invalidValue } from './errors.js';
import { type FilterNode, matches, parseFilter } from './filter.js';
import { type Projection, project, projectionOf } from './projection.js';
import { LIST_RESPONSE_SCHEMA, type ResourceSchema, type ScimDocument } from './schemas.js';

/** Most resources one list response carries (advertised as `filter.maxResults`). */
export const MAX_RESULTS = 200;

/** The query of a list request (RFC 7644 §3.4.2). */
export interface ListQuery {
  filter?: FilterNode | undefined;
  sortBy?: AttributePath | undefined;
  descending: boolean;
  /** 1-based. */
  startIndex: number;
  count: number;
  projection: Projection;
}

export type ListParameters = Partial<
  Record<'filter' | 'sortBy' | 'sortOrder' | 'startIndex' | 'count' | 'attributes' | 'excludedAttributes', string>
>;

function integer(name: string, text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^-?\d{1,9}$/.test(text)) throw invalidValue(`${name} must be an integer`);
  return Number(text);
}

export function parseListQuery(parameters: ListParameters, schema: ResourceSchema): ListQuery {
  const sortOrder = parameters.sortOrder?.toLowerCase();
  if (sortOrder !== undefined && sortOrder !== 'ascending' && sortOrder !== 'descending')
    throw invalidValue('sortOrder must be "ascending" or "descending"');
  let sortBy: AttributePath | undefined;
  if (parameters.sortBy) {
    sortBy = parseAttributePath(parameters.sortBy, schema);
    if (!sortBy) throw invalidValue(`unknown sortBy attribute "${parameters.sortBy}"`);
  }
  // RFC 7644 §3.4.2.4: a startIndex below 1 is 1; a negative count is 0; more than the maximum is the maximum.
  const startIndex = Math.max(1, integer('startIndex', parameters.startIndex) ?? 1);
  const count = Math.min(MAX_RESULTS, Math.max(0, integer('count', parameters.count) ?? MAX_RESULTS));
  return {
    ...(parameters.filter !== undefined && { filter: parseFilter(parameters.filter, schema) }),
    ...(sortBy && { sortBy }),
    descending: sortOrder === 'descending',
    startIndex,
    count,
    projection: projectionOf(parameters),
  };
}

/** RFC 7644 §3.4.2.3: sort by the attribute (a multi-valued one by its primary value), absent values last. */
function sortKey(document: ScimDocument, path: AttributePath): string | number | undefined {
  let value = getAttribute(containerOf(document, path), path.attr);
  if (Array.isArray(value)) value = value.find((element) => getAttribute(element, 'primary') === true) ?? value[0];
  if (path.sub) value = getAttribute(value, path.sub);
  else if (isObject(value)) value = getAttribute(value, 'value');
  if (typeof value === 'string') return path.info.caseExact ? value : value.toLowerCase();
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return undefined;
}

export function sortDocuments(documents: ScimDocument[], query: ListQuery): ScimDocument[] {
  const path = query.sortBy;
  if (!path) return documents;
  const keyed = documents.map((document) => ({ document, key: sortKey(document, path) }));
  const direction = query.descending ? -1 : 1;
  keyed.sort((a, b) => {
    if (a.key === b.key) return 0;
    if (a.key === undefined) return 1;
    if (b.key === undefined) return -1;
    return (a.key < b.key ? -1 : 1) * direction;
  });
  return keyed.map((entry) => entry.document);
}

export function filterDocuments(documents: ScimDocument[], query: ListQuery): ScimDocument[] {
  const filter = query.filter;
  return filter ? documents.filter((document) => matches(filter, document)) : documents;
}

/** A ListResponse (RFC 7644 §3.4.2) of one page of resources. */
export function listResponse(page: ScimDocument[], totalResults: number, query: ListQuery, schema: ResourceSchema): ScimDocument {
  return {
    schemas: [LIST_RESPONSE_SCHEMA],
    totalResults,
    itemsPerPage: page.length,
    startIndex: query.startIndex,
    Resources: page.map((document) => project(document, query.projection, schema)),
  };
}

/** Filters, sorts and pages resources held in memory. */
export function listInMemory(documents: ScimDocument[], query: ListQuery, schema: ResourceSchema): ScimDocument {
  const selected = sortDocuments(filterDocuments(documents, query), query);
  const page = selected.slice(query.startIndex - 1, query.startIndex - 1 + query.count);
  return listResponse(page, selected.length, query, schema);
}
