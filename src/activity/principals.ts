import type { AuditInput } from '../audit/audit-log.js';
import type { Clock } from '../clock.js';
import type { Grants } from '../consent/grants.js';
import { InvalidRequestError, MandateError, NotFoundError } from '../errors.js';
import type { AccessTokens } from '../oauth/tokens/access-token.js';
import type { LiveTokens } from '../oauth/tokens/live-tokens.js';
import type { AgentsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { Executor } from '../store/transaction.js';
import type { Organizations } from '../tenancy/organizations.js';

/** Who an audited action is for, as a caller names it: a Mandate access token, or ids in an organization. */
export interface PrincipalInput {
  token?: string | undefined;
  organization?: string | undefined;
  member_id?: string | undefined;
  agent_id?: string | undefined;
  grant_id?: string | undefined;
}

/** Everything an audit event says about who acted, for whom, under which consent. */
export interface Principals {
  orgId: string;
  memberId: string | null;
  agentId: string | null;
  agentVersion: string | null;
  agentEnvironment: string | null;
  clientId: string | null;
  grantId: string | null;
  jti: string | null;
  scope: string | null;
  act: unknown;
  /** The grant (or, without one, the token) still stands right now. */
  live: boolean;
  /** Proven by a Mandate access token, rather than asserted by an admin-key holder. */
  proven: boolean;
}

/**
 * Resolves the principals of an audited action. A token must carry Mandate's signature; one that
 * was revoked since (itself, its grant, an agent in its chain) still resolves, with `live: false`,
 * so the attempt is recorded for what it was.
 */
export class PrincipalResolver {
  constructor(
    private readonly deps: {
      store: Store;
      accessTokens: AccessTokens;
      liveTokens: LiveTokens;
      grants: Grants;
      organizations: Organizations;
      clock: Clock;
    },
  ) {}

  async resolve(input: PrincipalInput): Promise<Principals> {
    if (input.token) {
      if (input.organization || input.member_id || input.agent_id || input.grant_id)
        throw new InvalidRequestError('give either a token or organization, member_id, agent_id and grant_id');
      const claims = this.deps.accessTokens.verify(input.token);
      if (!claims) throw new MandateError('unauthorized', 'the token is not a valid Mandate access token');
      const agent = await this.agent(claims.org_id, claims.agent_id ?? null);
      return {
        orgId: claims.org_id,
        memberId: claims.sub.startsWith('mbr_') ? claims.sub : null,
        agentId: claims.agent_id ?? null,
        agentVersion: agent?.version ?? null,
        agentEnvironment: agent?.environment ?? null,
        clientId: claims.client_id,
        grantId: claims.auth_event_id ?? null,
        jti: claims.jti,
        scope: claims.scope,
        act: claims.act ?? null,
        live: this.deps.liveTokens.claims(input.token) !== undefined,
        proven: true,
      };
    }
    if (!input.organization) throw new InvalidRequestError('give a token, or an organization with a member_id and/or an agent_id');
    const org = await this.deps.organizations.require(input.organization);
    let memberId = input.member_id ?? null;
    let agentId = input.agent_id ?? null;
    let live = true;
    let clientId: string | null = null;
    if (input.grant_id) {
      // The grant says who it is for and through which agent and client; a caller may not say otherwise.
      const grant = await this.deps.grants.find(input.grant_id);
      if (!grant || grant.org_id !== org.id) throw new NotFoundError('grant');
      if (memberId && grant.member_id !== memberId) throw new InvalidRequestError('the grant belongs to another member');
      if (agentId && grant.agent_id && grant.agent_id !== agentId) throw new InvalidRequestError('the grant is for another agent');
      memberId = grant.member_id;
      agentId = agentId ?? grant.agent_id;
      live = this.grantStands(grant.id, grant.expires_at, grant.revoked_at);
      clientId = grant.client_id;
    }
    if (!memberId && !agentId) throw new InvalidRequestError('name a member_id, an agent_id or a grant_id');
    if (memberId && !(await this.memberOf(org.id, memberId))) throw new NotFoundError('member');
    const agent = await this.agent(org.id, agentId);
    if (agentId && !agent) throw new NotFoundError('agent');
    return {
      orgId: org.id,
      memberId,
      agentId,
      agentVersion: agent?.version ?? null,
      agentEnvironment: agent?.environment ?? null,
      clientId,
      grantId: input.grant_id ?? null,
      jti: null,
      scope: null,
      act: null,
      live,
      proven: false,
    };
  }

  /** Whether a grant stands now: not revoked (the in-memory set sees other nodes' revocations first) and not expired. */
  grantStands(grantId: string, expiresAt: string, revokedAt: string | null): boolean {
    return revokedAt === null && !this.deps.grants.isRevoked(grantId) && Date.parse(expiresAt) > this.deps.clock.now();
  }

  /** {@link grantStands} for a grant id; an unknown grant does not stand. Reads through `trx` inside a transaction. */
  async grantStandsById(grantId: string, trx?: Executor): Promise<boolean> {
    const grant = await this.deps.grants.find(grantId, trx);
    return grant ? this.grantStands(grant.id, grant.expires_at, grant.revoked_at) : false;
  }

  private async memberOf(orgId: string, memberId: string): Promise<boolean> {
    const row = await this.deps.store.db
      .selectFrom('members')
      .select('id')
      .where('org_id', '=', orgId)
      .where('id', '=', memberId)
      .executeTakeFirst();
    return row !== undefined;
  }

  private async agent(orgId: string, agentId: string | null): Promise<Pick<AgentsTable, 'version' | 'environment'> | undefined> {
    if (!agentId) return undefined;
    return this.deps.store.db
      .selectFrom('agents')
      .select(['version', 'environment'])
      .where('org_id', '=', orgId)
      .where('id', '=', agentId)
      .executeTakeFirst();
  }
}

/**
 * The audit fields that say who acted, for whom, under which consent. Principals a token proves
 * make the agent (or user) the actor; asserted ones leave the actor to the request's caller (the
 * admin key), so the trail shows who wrote the event.
 */
export function eventOf(p: Principals): Omit<AuditInput, 'kind'> {
  return {
    orgId: p.orgId,
    ...(p.proven && { actorId: p.agentId ?? p.memberId }),
    agentId: p.agentId,
    subjectId: p.memberId,
    agentVersion: p.agentVersion,
    agentEnvironment: p.agentEnvironment,
    clientId: p.clientId,
    grantId: p.grantId,
    grantValid: p.grantId ? p.live : null,
    jti: p.jti,
    scope: p.scope,
    act: p.act,
  };
}
