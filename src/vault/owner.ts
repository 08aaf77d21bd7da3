import type { Caller } from '../activity/caller.js';
import type { AuditContext } from '../audit/audit-log.js';
import type { AuditBatcher } from '../audit/batcher.js';
import type { Decisions } from '../decisions/decisions.js';
import { InvalidRequestError, MandateError, NotFoundError } from '../errors.js';
import type { LiveTokens } from '../oauth/tokens/live-tokens.js';
import type { Store } from '../store/store.js';
import type { Organizations } from '../tenancy/organizations.js';
import type { AccountOwner } from './account-records.js';
import type { Connections } from './connections.js';

/**
 * Whose connected accounts a caller reaches. An admin-key holder names the organization and the
 * member. An agent with a user's access token reaches only that user's accounts, in that token's
 * organization, and only while the token, its grant and every agent in its chain stand: anything
 * else is refused and recorded.
 */
export class AccountOwners {
  constructor(
    private readonly deps: {
      store: Store;
      organizations: Organizations;
      liveTokens: LiveTokens;
      auditBatcher: AuditBatcher;
      decisions: Decisions;
      connections: Connections;
    },
  ) {}

  /** {@link authorize} on the provider of a connection: its catalog name is the permission's tool. */
  async authorizeOn(
    caller: Caller,
    owner: AccountOwner,
    connectionName: string,
    action: 'read' | 'write' | 'export' | 'admin',
    context: AuditContext,
  ): Promise<void> {
    const connection = await this.deps.connections.resolve(owner.orgId, connectionName);
    await this.authorize(caller, owner, { tool: connection.provider.name, action }, 'confidential', context);
  }

  /**
   * The delegation decision (user AND agent AND consent) for what the caller is about to do with
   * the user's account; anything but `allow` is refused (the decision itself is audited).
   */
  async authorize(
    caller: Caller,
    owner: AccountOwner,
    permission: { tool: string; action: string },
    classification: 'public' | 'internal' | 'confidential' | 'regulated',
    context: AuditContext,
  ): Promise<void> {
    const who = caller.kind === 'token' ? { token: caller.token } : { organization: owner.orgId, member_id: owner.identifier };
    const decision = await this.deps.decisions.check({ ...who, ...permission, context: { environment: 'prod', classification } }, context);
    if (decision.decision !== 'allow') throw new MandateError('forbidden', `not allowed: ${decision.reasons.join('; ')}`);
  }

  async resolve(
    caller: Caller,
    input: { organization?: string | undefined; identifier?: string | undefined },
    context: AuditContext,
  ): Promise<AccountOwner> {
    if (caller.kind === 'admin') {
      if (!input.organization) throw new InvalidRequestError('name the organization');
      if (!input.identifier) throw new InvalidRequestError('name the user (identifier: a member id)');
      const org = await this.deps.organizations.require(input.organization);
      await this.requireMember(org.id, input.identifier);
      return { orgId: org.id, identifier: input.identifier };
    }
    const { claims } = caller;
    const owner: AccountOwner = {
      orgId: claims.org_id,
      identifier: claims.sub,
      agentId: claims.agent_id ?? null,
      grantId: claims.auth_event_id ?? null,
      jti: claims.jti,
    };
    const refuse = async (reason: string, code: string): Promise<never> => {
      await this.deps.auditBatcher.record(
        {
          kind: 'vault.refused',
          orgId: claims.org_id,
          actorId: claims.agent_id ?? claims.sub,
          agentId: claims.agent_id ?? null,
          subjectId: claims.sub.startsWith('mbr_') ? claims.sub : null,
          grantId: owner.grantId ?? null,
          jti: claims.jti,
          clientId: claims.client_id,
          result: 'failure',
          errorCode: code,
          detail: {
            reason,
            ...(input.identifier && { identifier: input.identifier }),
            ...(input.organization && { organization: input.organization }),
          },
        },
        context,
      );
      throw new MandateError('forbidden', reason);
    };
    if (!this.deps.liveTokens.claims(caller.token))
      return refuse('the token, the grant it was issued under, or an agent acting was revoked', 'grant_revoked');
    if (!claims.sub.startsWith('mbr_')) return refuse('the token does not act for a user', 'no_user');
    if (input.organization && input.organization !== claims.org_id) {
      const org = await this.deps.organizations.require(input.organization).catch(() => undefined);
      if (org?.id !== claims.org_id) return refuse('the token is for another organization', 'cross_organization');
    }
    if (input.identifier && input.identifier !== claims.sub) return refuse('the token acts for another user', 'cross_user');
    return owner;
  }

  private async requireMember(orgId: string, memberId: string): Promise<void> {
    const row = await this.deps.store.db
      .selectFrom('members')
      .select('id')
      .where('org_id', '=', orgId)
      .where('id', '=', memberId)
      .executeTakeFirst();
    if (!row) throw new NotFoundError('member');
  }
}
