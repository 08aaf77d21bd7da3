import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses, pageOf } from '../http/common-schemas.js';
import { InvalidRequestError } from '../http/errors.js';
import { DEFAULT_PAGE_SIZE, decodeCursor, PageQuery, toPage } from '../http/pagination.js';
import type { AuditEventsTable } from '../store/schema.js';
import type { Organizations } from '../tenancy/organizations.js';
import type { AuditEvents } from './store.js';

const AuditEvent = Type.Object({
  id: Type.String(),
  chain_id: Type.String(),
  seq: Type.Integer(),
  org_id: Type.Union([Type.String(), Type.Null()]),
  at: Type.String({ format: 'date-time' }),
  kind: Type.String(),
  correlation_id: Type.Union([Type.String(), Type.Null()]),
  request_id: Type.Union([Type.String(), Type.Null()]),
  actor_id: Type.Union([Type.String(), Type.Null()]),
  agent_id: Type.Union([Type.String(), Type.Null()]),
  subject_id: Type.Union([Type.String(), Type.Null()]),
  tool: Type.Union([Type.String(), Type.Null()]),
  action: Type.Union([Type.String(), Type.Null()]),
  result: Type.String(),
  classification: Type.Union([Type.String(), Type.Null()]),
  jti: Type.Union([Type.String(), Type.Null()]),
  scope: Type.Union([Type.String(), Type.Null()]),
  grant_id: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Record(Type.String(), Type.Unknown()),
  prev_hash: Type.String(),
  hash: Type.String(),
});

const AuditQuery = Type.Object({
  ...PageQuery,
  org: Type.Optional(Type.String({ maxLength: 100, description: 'Organization id or slug.' })),
  kind: Type.Optional(Type.String({ maxLength: 100, pattern: '^[a-z_]+\\.[a-z_]+$' })),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'Inclusive lower bound (RFC 3339).' })),
  until: Type.Optional(Type.String({ format: 'date-time', description: 'Exclusive upper bound (RFC 3339).' })),
});

/** Normalises an RFC 3339 time to the stored ISO form, so string comparison is time comparison. */
function toStoredTime(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidRequestError(`${name} is not a valid RFC 3339 time`);
  return new Date(ms).toISOString();
}

function toEvent(row: AuditEventsTable) {
  return { ...row, detail: JSON.parse(row.detail) as Record<string, unknown> };
}

/** GET /v1/audit/events: filter by organization, kind and time range, with cursor pagination. */
export const auditRoutes: FastifyPluginAsyncTypebox<{ events: AuditEvents; organizations: Organizations }> = async (
  app,
  { events, organizations },
) => {
  app.get(
    '/audit/events',
    {
      schema: {
        tags: ['audit'],
        security: [{ adminKey: [] }],
        querystring: AuditQuery,
        response: { 200: pageOf(AuditEvent), ...errorResponses },
      },
    },
    async (request) => {
      const { org, kind, cursor } = request.query;
      const limit = request.query.limit ?? DEFAULT_PAGE_SIZE;
      const since = toStoredTime(request.query.since, 'since');
      const until = toStoredTime(request.query.until, 'until');
      // A deleted organization's trail stays queryable by its id.
      const orgId = org === undefined ? undefined : org.startsWith('org_') ? org : (await organizations.require(org)).id;
      const rows = await events.list({
        limit: limit + 1,
        ...(orgId && { orgId }),
        ...(kind && { kind }),
        ...(since && { since }),
        ...(until && { until }),
        ...(cursor && { after: decodeCursor(cursor) }),
      });
      return toPage(rows.map(toEvent), limit);
    },
  );
};
