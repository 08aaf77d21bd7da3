import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { InvalidRequestError, NotFoundError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import { InvalidatingCache } from '../events/cache.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import { CLASSIFICATIONS, type Classification, type Environment } from './decision.js';

/** Present in every set: RBAC already allowed the request, so organization policies act as conditions (forbid … when …). */
const RBAC_ALLOWED = 'mandate-rbac-allowed';
const IMPLICIT_PERMIT = 'permit(principal, action, resource);';

export interface PolicySetView {
  version: number;
  policy_ids: string[];
  source: string;
  created_at: string;
}

export interface ConditionRequest {
  principal: { type: 'Member' | 'Agent'; id: string };
  tool: string;
  action: string;
  environment: Environment;
  classification: Classification;
  attributes?: Record<string, unknown>;
}

/** Splits Cedar text into policies keyed by their `@id("…")` annotation (or `policyN`), refusing invalid text. */
export function parsePolicies(source: string): Record<string, string> {
  const parts = cedar.policySetTextToParts(source);
  if (parts.type === 'failure') throw new InvalidRequestError(`invalid Cedar policies: ${parts.errors.map((e) => e.message).join('; ')}`);
  if (parts.policy_templates.length > 0) throw new InvalidRequestError('policy templates are not supported');
  const policies: Record<string, string> = {};
  parts.policies.forEach((text, index) => {
    const id = /@id\("([^"]+)"\)/.exec(text)?.[1] ?? `policy${index}`;
    if (id === RBAC_ALLOWED || id in policies) throw new InvalidRequestError(`policy id "${id}" is used twice or reserved`);
    policies[id] = text;
  });
  const check = cedar.checkParsePolicySet({ staticPolicies: { ...policies, [RBAC_ALLOWED]: IMPLICIT_PERMIT } });
  if (check.type === 'failure') throw new InvalidRequestError(`invalid Cedar policies: ${check.errors.map((e) => e.message).join('; ')}`);
  return policies;
}

/** Cedar context values: strings, numbers, booleans and nested records of them. */
function toCedarContext(attributes: Record<string, unknown> | undefined): Record<string, cedar.CedarValueJson> {
  const out: Record<string, cedar.CedarValueJson> = {};
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (['string', 'number', 'boolean'].includes(typeof value)) out[key] = value as string | number | boolean;
  }
  return out;
}

export interface ConditionsDeps {
  store: Store;
  audit: AuditLog;
  clock: Clock;
  bus: EventBus;
  cacheTtlMs: number;
}

/**
 * Conditions as policy (@cedar-policy/cedar-wasm), evaluated after RBAC for organizations that
 * have uploaded policies — and only for them: Cedar costs about 100 µs a decision, RBAC a few.
 * Versioned on every upload; a denial names the policies that caused it.
 */
export class Conditions {
  private readonly cache: InvalidatingCache<Record<string, string> | null>;

  constructor(private readonly deps: ConditionsDeps) {
    this.cache = new InvalidatingCache(deps.clock, deps.cacheTtlMs);
    deps.bus.subscribe('policies.changed', ({ orgId }) => this.cache.invalidate(orgId));
    deps.bus.subscribe('bus.resynced', () => this.cache.clear());
  }

  async upload(orgId: string, source: string, context: AuditContext): Promise<PolicySetView> {
    const policies = parsePolicies(source);
    const row = await inTransaction(this.deps.store, async (trx) => {
      const latest = await trx
        .selectFrom('policy_sets')
        .select('version')
        .where('org_id', '=', orgId)
        .orderBy('version', 'desc')
        .executeTakeFirst();
      const version = (latest?.version ?? 0) + 1;
      const entry = { org_id: orgId, version, source, policies: JSON.stringify(policies), created_at: isoAt(this.deps.clock) };
      await trx.insertInto('policy_sets').values(entry).execute();
      await this.deps.audit.append(
        trx,
        { kind: 'policies.updated', orgId, detail: { version, policy_ids: Object.keys(policies) } },
        context,
      );
      return entry;
    });
    await this.deps.bus.publish('policies.changed', { orgId });
    return { version: row.version, policy_ids: Object.keys(policies), source, created_at: row.created_at };
  }

  async current(orgId: string): Promise<PolicySetView> {
    const row = await this.deps.store.db
      .selectFrom('policy_sets')
      .selectAll()
      .where('org_id', '=', orgId)
      .orderBy('version', 'desc')
      .executeTakeFirst();
    if (!row) throw new NotFoundError('policy set');
    return {
      version: row.version,
      policy_ids: Object.keys(JSON.parse(row.policies) as Record<string, string>),
      source: row.source,
      created_at: row.created_at,
    };
  }

  /** The policies that forbid the request, or an empty list; nothing to evaluate for an organization without policies. */
  async forbiddenBy(orgId: string, request: ConditionRequest): Promise<string[]> {
    const policies = await this.cache.get(orgId, async () => {
      const row = await this.deps.store.db
        .selectFrom('policy_sets')
        .select('policies')
        .where('org_id', '=', orgId)
        .orderBy('version', 'desc')
        .executeTakeFirst();
      return row ? (JSON.parse(row.policies) as Record<string, string>) : null;
    });
    if (!policies || Object.keys(policies).length === 0) return [];
    const answer = cedar.isAuthorized({
      principal: { type: request.principal.type, id: request.principal.id },
      action: { type: 'Action', id: `${request.tool}:${request.action}` },
      resource: { type: 'Tool', id: request.tool },
      context: {
        ...toCedarContext(request.attributes),
        environment: request.environment,
        classification: request.classification,
        classification_rank: CLASSIFICATIONS.indexOf(request.classification),
        // Time conditions ("only during business hours"), in UTC.
        hour: new Date(this.deps.clock.now()).getUTCHours(),
        weekday: new Date(this.deps.clock.now()).getUTCDay(),
      },
      policies: { staticPolicies: { ...policies, [RBAC_ALLOWED]: IMPLICIT_PERMIT } },
      entities: [],
    });
    // A policy that fails to evaluate denies: conditions fail closed.
    if (answer.type === 'failure') return ['(policy evaluation failed)'];
    if (answer.response.decision === 'allow') return [];
    const reasons = answer.response.diagnostics.reason.filter((id) => id !== RBAC_ALLOWED);
    return reasons.length > 0 ? reasons : answer.response.diagnostics.errors.map((e) => e.policyId);
  }
}
