import { InvalidRequestError } from '../errors.js';
import type { OrganizationRefs } from './organization-refs.js';
import type { AuditEvents, AuditQuery } from './store.js';

/** A query as people write it (slugs, emails, RFC 3339 times), from the API and the CLI alike. */
export interface AuditFilter {
  org?: string | undefined;
  /** A member id, or an email (matched in the organization when one is given; without one it must name members of one organization only). */
  member?: string | undefined;
  agent?: string | undefined;
  tool?: string | undefined;
  action?: string | undefined;
  result?: 'success' | 'failure' | undefined;
  kind?: string | undefined;
  correlation_id?: string | undefined;
  grant?: string | undefined;
  run?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

/** Normalises an RFC 3339 time (or a date) to the stored ISO form, so string comparison is time comparison. */
export function toStoredTime(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidRequestError(`${name} is not a valid RFC 3339 time`);
  return new Date(ms).toISOString();
}

/**
 * Turns a filter into the stored query; `undefined` when it can match nothing (an email nobody
 * has), so callers answer an empty page without a query.
 */
export async function resolveAuditFilter(
  deps: { events: AuditEvents; organizations: OrganizationRefs },
  filter: AuditFilter,
): Promise<Omit<AuditQuery, 'limit' | 'after'> | undefined> {
  const since = toStoredTime(filter.since, 'since');
  const until = toStoredTime(filter.until, 'until');
  // A deleted organization's trail stays queryable by its id.
  const orgId =
    filter.org === undefined ? undefined : filter.org.startsWith('org_') ? filter.org : (await deps.organizations.require(filter.org)).id;
  let memberIds: string[] | undefined;
  if (filter.member !== undefined) {
    if (filter.member.includes('@')) {
      const members = await deps.events.membersByEmail(filter.member, orgId);
      if (members.length === 0) return undefined;
      // An email names one person per organization: across organizations it would silently mix
      // the trails of different people, so the organization must be said.
      const orgs = [...new Set(members.map((m) => m.orgSlug))];
      if (orgs.length > 1)
        throw new InvalidRequestError(
          `${filter.member} is a member of several organizations (${orgs.join(', ')}); name the organization (--org, or org= in the API)`,
        );
      memberIds = members.map((m) => m.id);
    } else memberIds = [filter.member];
  }
  return {
    ...(orgId && { orgId }),
    ...(memberIds && { memberIds }),
    ...(filter.agent && { agentId: filter.agent }),
    ...(filter.tool && { tool: filter.tool }),
    ...(filter.action && { action: filter.action }),
    ...(filter.result && { result: filter.result }),
    ...(filter.kind && { kind: filter.kind }),
    ...(filter.correlation_id && { correlationId: filter.correlation_id }),
    ...(filter.grant && { grantId: filter.grant }),
    ...(filter.run && { runId: filter.run }),
    ...(since && { since }),
    ...(until && { until }),
  };
}
