import { type AuditFilter, resolveAuditFilter } from '../audit/query.js';
import { toEvent } from '../audit/routes.js';
import type { Services } from '../modules.js';
import type { AuditEventsTable } from '../store/schema.js';

/** One line of `mandate audit query`: what happened, who for, through which agent, how it ended. */
export interface AuditQueryRow {
  at: string;
  kind: string;
  user: string | null;
  agent: string | null;
  tool: string | null;
  result: string;
  latency: string | null;
  correlation: string | null;
}

/** Every event matching the filter, oldest first, up to `limit`; names resolved for people. */
export async function queryAuditEvents(
  services: Services,
  filter: AuditFilter,
  limit: number,
): Promise<{ events: ReturnType<typeof toEvent>[]; rows: AuditQueryRow[] }> {
  const query = await resolveAuditFilter({ events: services.auditEvents, organizations: services.organizations }, filter);
  const found: AuditEventsTable[] = [];
  let after: string | undefined;
  while (query && found.length < limit) {
    const page = await services.auditEvents.list({ ...query, limit: Math.min(500, limit - found.length), ...(after && { after }) });
    found.push(...page);
    if (page.length === 0 || page.length < 500) break;
    after = page.at(-1)?.id;
  }
  const names = await services.auditEvents.names(found);
  const rows = found.map((e) => ({
    at: e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    kind: e.kind,
    user: e.subject_id ? (names.get(e.subject_id) ?? e.subject_id) : null,
    agent: e.agent_id ? (names.get(e.agent_id) ?? e.agent_id) : null,
    tool: e.tool ? `${e.tool}:${e.action ?? ''}` : null,
    result: e.result === 'failure' && e.error_code ? `failure (${e.error_code})` : e.result,
    latency: e.latency_ms === null || e.latency_ms === undefined ? null : `${e.latency_ms} ms`,
    correlation: e.correlation_id,
  }));
  return { events: found.map(toEvent), rows };
}
