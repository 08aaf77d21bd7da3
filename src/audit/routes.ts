import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses, pageOf } from '../http/common-schemas.js';
import { DEFAULT_PAGE_SIZE, decodeCursor, PageQuery, toPage } from '../http/pagination.js';
import type { AuditEventsTable } from '../store/schema.js';
import type { OrganizationRefs } from './organization-refs.js';
import { resolveAuditFilter } from './query.js';
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
  client_id: Type.Union([Type.String(), Type.Null()]),
  agent_version: Type.Union([Type.String(), Type.Null()]),
  agent_environment: Type.Union([Type.String(), Type.Null()]),
  act: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
    description: 'RFC 8693 delegation chain of the token exercised.',
  }),
  error_code: Type.Union([Type.String(), Type.Null()]),
  grant_valid: Type.Union([Type.Boolean(), Type.Null()], { description: 'Whether the grant still stood at that moment.' }),
  started_at: Type.Union([Type.String(), Type.Null()]),
  ended_at: Type.Union([Type.String(), Type.Null()]),
  latency_ms: Type.Union([Type.Integer(), Type.Null()]),
  intent_id: Type.Union([Type.String(), Type.Null()]),
  run_id: Type.Union([Type.String(), Type.Null()]),
  client_ip: Type.Union([Type.String(), Type.Null()]),
});

const AuditQuery = Type.Object({
  ...PageQuery,
  org: Type.Optional(Type.String({ maxLength: 100, description: 'Organization id or slug.' })),
  kind: Type.Optional(Type.String({ maxLength: 100, pattern: '^[a-z_]+(\\.[a-z_]+)?$' })),
  member: Type.Optional(Type.String({ maxLength: 320, description: 'Member id or email: events they did or that were done for them.' })),
  agent: Type.Optional(Type.String({ pattern: '^agt_[0-9a-z]{26}$' })),
  tool: Type.Optional(Type.String({ maxLength: 100 })),
  action: Type.Optional(Type.String({ maxLength: 100 })),
  result: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('failure')])),
  correlation_id: Type.Optional(Type.String({ maxLength: 200 })),
  grant: Type.Optional(Type.String({ pattern: '^grt_[0-9a-z]{26}$' })),
  run: Type.Optional(Type.String({ pattern: '^run_[0-9a-z]{26}$' })),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'Inclusive lower bound (RFC 3339).' })),
  until: Type.Optional(Type.String({ format: 'date-time', description: 'Exclusive upper bound (RFC 3339).' })),
});

/** An event as the API shows it: JSON columns parsed, extension fields always present. */
export function toEvent(row: AuditEventsTable) {
  return {
    ...row,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
    client_id: row.client_id ?? null,
    agent_version: row.agent_version ?? null,
    agent_environment: row.agent_environment ?? null,
    act: row.act ? (JSON.parse(row.act) as Record<string, unknown>) : null,
    error_code: row.error_code ?? null,
    grant_valid: row.grant_valid === null || row.grant_valid === undefined ? null : row.grant_valid === 1,
    started_at: row.started_at ?? null,
    ended_at: row.ended_at ?? null,
    latency_ms: row.latency_ms ?? null,
    intent_id: row.intent_id ?? null,
    run_id: row.run_id ?? null,
    client_ip: row.client_ip ?? null,
  };
}

/** GET /v1/audit/events: filter by organization, member, agent, tool, action, result, correlation, grant, run and time, with cursor pagination. */
export const auditRoutes: FastifyPluginAsyncTypebox<{ events: AuditEvents; organizations: OrganizationRefs }> = async (
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
      const { cursor, limit: requested, ...filter } = request.query;
      const limit = requested ?? DEFAULT_PAGE_SIZE;
      const query = await resolveAuditFilter({ events, organizations }, filter);
      if (!query) return { data: [], next_cursor: null };
      const rows = await events.list({ ...query, limit: limit + 1, ...(cursor && { after: decodeCursor(cursor) }) });
      return toPage(rows.map(toEvent), limit);
    },
  );
};
