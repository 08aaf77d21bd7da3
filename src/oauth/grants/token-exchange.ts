import type { AuditLog } from '../../audit/audit-log.js';
import type { AuditBatcher } from '../../audit/batcher.js';
import { type ActorClaim, delegatedScope, delegationDepth, MAX_DELEGATION_DEPTH } from '../../authz/delegation.js';
import type { Permissions } from '../../authz/permissions.js';
import { type Clock, isoAt } from '../../clock.js';
import type { Grants } from '../../consent/grants.js';
import { newId } from '../../crypto/ids.js';
import type { Sessions } from '../../sessions/sessions.js';
import type { GrantsTable } from '../../store/schema.js';
import type { Store } from '../../store/store.js';
import { inTransaction } from '../../store/transaction.js';
import type { Organizations } from '../../tenancy/organizations.js';
import { InvalidGrant, InvalidRequest, InvalidScope, OAuthError, UnauthorizedClient } from '../errors.js';
import type { Resources } from '../resources/resources.js';
import { parseScope } from '../scopes.js';
import type { AccessTokens } from '../tokens/access-token.js';
import type { LiveTokens } from '../tokens/live-tokens.js';
import { checkResource } from '../tokens/token-target.js';
import { TOKEN_EXCHANGE } from './grant-types.js';
import { defineGrant, type GrantHandler, type GrantResult, type TokenRequest } from './registry.js';

const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** RFC 8693 §3: a JWT; here a Mandate session JWT. */
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** Whom a token exchange acts for, however the subject was presented. */
interface Subject {
  sub: string;
  org_id: string;
  /** What the user consented to; null for a session, which carries no OAuth consent. */
  scopes: string[] | null;
  exp: number;
  jti: string;
  auth_event_id?: string;
  act?: ActorClaim;
  /** Whom the subject token was issued to and for, when it is an access token (see mayExchange). */
  issued?: { clientId: string; agentId?: string; aud: string; mayAct?: string };
}

export interface TokenExchangeDeps {
  resources: Resources;
  accessTokens: AccessTokens;
  liveTokens: LiveTokens;
  grants: Grants;
  permissions: Pick<Permissions, 'of'>;
  auditBatcher: AuditBatcher;
  clock: Clock;
  defaultTtlSeconds: number;
  sessions: Sessions;
  organizations: Organizations;
  store: Store;
  audit: AuditLog;
  grantTtlSeconds: number;
}

/** What the handler reads (RFC 8693 §2.1); `actor_token` only to refuse it. */
const PARAMETERS = ['subject_token', 'subject_token_type', 'requested_token_type', 'actor_token', 'resource', 'scope'] as const;
type ExchangeRequest = TokenRequest<(typeof PARAMETERS)[number]>;

/**
 * RFC 8693 delegation: an agent (authenticated as its client) presents a user's access token and
 * receives a token for another resource with `sub` = the user and `act` = the agent, nesting the
 * previous actor when the subject token was itself delegated (§4.1). The scope only narrows:
 * requested ∩ subject token ∩ the user's permissions ∩ the agent's permissions. The new token
 * belongs to the same grant, so revoking the consent kills it. Refusals are audited.
 */
export function tokenExchangeGrant(deps: TokenExchangeDeps): GrantHandler {
  /**
   * The user the agent will act for. An access token must be a user-delegated, live token; a
   * session JWT (typ session+jwt) stands for the signed-in user directly.
   */
  async function resolveSubject(type: string, token: string): Promise<Subject> {
    if (type === JWT_TOKEN_TYPE) {
      if (token.startsWith('mnd_')) throw new InvalidGrant('a session subject must be the session JWT, not the session token');
      const session = await deps.sessions.authenticate(token).catch(() => {
        throw new InvalidGrant('the session is not active');
      });
      if (session.impersonatorId) throw new InvalidGrant('an impersonation session cannot be exchanged for agent tokens');
      return {
        sub: session.memberId,
        org_id: session.orgId,
        scopes: null,
        exp: Math.floor(Date.parse(session.expiresAt) / 1000),
        jti: `session:${session.id}`,
      };
    }
    // Revoked token or grant, or a stopped agent anywhere in its chain: not active (tokens/live-tokens.ts).
    const claims = deps.liveTokens.claims(token);
    if (!claims) throw new InvalidGrant('the subject token is not active');
    if (!claims.auth_event_id || !claims.sub.startsWith('mbr_')) throw new InvalidGrant('the subject token does not act for a user');
    return {
      sub: claims.sub,
      org_id: claims.org_id,
      scopes: claims.scope.split(' ').filter(Boolean),
      exp: claims.exp,
      jti: claims.jti,
      auth_event_id: claims.auth_event_id,
      ...(claims.act && { act: claims.act }),
      issued: {
        clientId: claims.client_id,
        aud: claims.aud,
        ...(claims.agent_id && { agentId: claims.agent_id }),
        ...(typeof claims.may_act?.sub === 'string' && { mayAct: claims.may_act.sub }),
      },
    };
  }

  /**
   * Being in the user's organization is not enough to act for them: the subject token must have
   * been issued to this agent (its client, or a token for the agent), for it (its audience is a
   * resource the agent serves: on-behalf-of), or name it in `may_act` (RFC 8693 §4.4), the user's
   * consent to this delegation.
   */
  async function mayExchange(issued: NonNullable<Subject['issued']>, client: ExchangeRequest['client']): Promise<boolean> {
    if (issued.clientId === client.id || issued.agentId === client.agentId || issued.mayAct === client.agentId) return true;
    const audience = await deps.resources.findByIdentifier(issued.aud);
    return audience?.agent_id === client.agentId;
  }

  /** A session delegated to an agent is a consent event of its own: a grant, so it can be revoked. */
  async function recordSessionConsent(
    client: ExchangeRequest['client'],
    subject: Subject,
    resource: string,
    scopes: string[],
    audit: ExchangeRequest['audit'],
  ): Promise<string> {
    const now = deps.clock.now();
    const grant: GrantsTable = {
      id: newId('grt', now),
      org_id: subject.org_id,
      member_id: subject.sub,
      client_id: client.id,
      agent_id: client.agentId,
      scope: scopes.join(' '),
      resource,
      created_at: isoAt(deps.clock),
      expires_at: new Date(Math.min(now + deps.grantTtlSeconds * 1000, subject.exp * 1000)).toISOString(),
      revoked_at: null,
      revoked_reason: null,
    };
    await inTransaction(deps.store, async (trx) => {
      await deps.grants.insert(trx, grant);
      await deps.audit.append(
        trx,
        {
          kind: 'consent.granted',
          orgId: grant.org_id,
          actorId: subject.sub,
          subjectId: subject.sub,
          agentId: client.agentId,
          grantId: grant.id,
          scope: grant.scope,
          detail: { client_id: client.id, resource, via: 'session token exchange' },
        },
        audit,
      );
    });
    return grant.id;
  }

  async function exchange(request: ExchangeRequest): Promise<GrantResult> {
    const { client, params, resources } = request;
    if (!client.agentId || client.type !== 'confidential' || !client.grantTypes.has(TOKEN_EXCHANGE) || client.orgId === null) {
      throw new UnauthorizedClient('only an agent’s confidential client may exchange tokens');
    }
    if (!params.subject_token || (params.subject_token_type !== ACCESS_TOKEN_TYPE && params.subject_token_type !== JWT_TOKEN_TYPE)) {
      throw new InvalidRequest(
        `subject_token is required, with subject_token_type ${ACCESS_TOKEN_TYPE} (a Mandate access token) or ${JWT_TOKEN_TYPE} (a session JWT)`,
      );
    }
    if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
      throw new InvalidRequest('only access tokens can be requested');
    }
    if (params.actor_token !== undefined) throw new InvalidRequest('the actor is the authenticated client; actor_token is not used');
    const subject = await resolveSubject(params.subject_token_type, params.subject_token);
    if (subject.org_id !== client.orgId) throw new InvalidGrant('the subject token belongs to another organization');
    if (subject.issued && !(await mayExchange(subject.issued, client)))
      throw new InvalidGrant('the subject token was not issued to this agent or for it, and does not name it in may_act');
    // Policy: an organization may name the agents allowed to act for its users.
    const settings = JSON.parse((await deps.organizations.require(client.orgId)).settings) as { delegation_agents?: string[] };
    if (settings.delegation_agents && !settings.delegation_agents.includes(client.agentId)) {
      throw new InvalidGrant('this agent is not allowed to act for users of the organization');
    }
    const act = subject.act as ActorClaim | undefined;
    if (delegationDepth(act) + 1 > MAX_DELEGATION_DEPTH)
      throw new InvalidGrant(`delegation chains are limited to ${MAX_DELEGATION_DEPTH} agents`);
    const resource = await checkResource(deps.resources, client, resources);
    const requested = parseScope(params.scope);
    if (!requested) throw new InvalidScope('scope is malformed');
    const [user, agent] = await Promise.all([
      deps.permissions.of(client.orgId, subject.sub),
      deps.permissions.of(client.orgId, client.agentId),
    ]);
    // A session carries no OAuth consent: the agent names the scopes, bounded by both role sets.
    if (subject.scopes === null && requested.length === 0) throw new InvalidScope('with a session as subject, name the scopes to delegate');
    const scope = delegatedScope({ requested, subject: subject.scopes ?? requested, user, agent });
    if (!scope.ok) throw new InvalidScope(scope.reason);
    // An anomaly response down-scoped the agent: what it obtains for users is read-only too.
    scope.scopes = request.restrictScopes(scope.scopes);
    const grantId =
      subject.auth_event_id ?? (await recordSessionConsent(client, subject, resource.identifier, scope.scopes, request.audit));
    const nestedAct: ActorClaim = { sub: client.agentId, ...(act && { act }) };
    const nowSeconds = Math.floor(deps.clock.now() / 1000);
    // A delegated token never outlives the token it was exchanged for.
    const ttl = Math.max(1, Math.min(resource.access_token_ttl_seconds ?? deps.defaultTtlSeconds, subject.exp - nowSeconds));
    const { token, claims } = deps.accessTokens.mint(
      {
        sub: subject.sub,
        aud: resource.identifier,
        client_id: client.id,
        scope: scope.scopes.join(' '),
        org_id: subject.org_id,
        agent_id: client.agentId,
        auth_event_id: grantId,
        act: nestedAct,
      },
      ttl,
    );
    return {
      response: {
        access_token: token,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer',
        expires_in: ttl,
        scope: claims.scope,
      },
      issued: {
        event: {
          kind: 'token.exchanged',
          orgId: client.orgId,
          actorId: client.agentId,
          agentId: client.agentId,
          subjectId: subject.sub,
          grantId,
          jti: claims.jti,
          scope: claims.scope,
          detail: {
            jti: claims.jti,
            subject_jti: subject.jti,
            act: nestedAct,
            aud: resource.identifier,
            grant: grantId,
            member: subject.sub,
          },
        },
      },
    };
  }

  return defineGrant({
    grantType: TOKEN_EXCHANGE,
    parameters: PARAMETERS,
    admitsAgent: true,
    async handle(request) {
      const { client, params, audit } = request;
      try {
        return await exchange(request);
      } catch (error) {
        // Escalation attempts leave a trace: who tried what, and why it was refused.
        if (error instanceof OAuthError) {
          await deps.auditBatcher.record(
            {
              kind: 'token.exchange_refused',
              orgId: client.orgId,
              actorId: client.agentId ?? client.id,
              agentId: client.agentId,
              result: 'failure',
              scope: params.scope ?? null,
              detail: { error: error.error, reason: error.description },
            },
            audit,
          );
        }
        throw error;
      }
    },
  });
}
