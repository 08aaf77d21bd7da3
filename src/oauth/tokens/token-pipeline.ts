import type { AgentUsage } from '../../agents/usage.js';
import { type AgentRestrictionsView, readOnlyScopes } from '../../anomaly/restrictions.js';
import type { AuditContext } from '../../audit/audit-log.js';
import type { AuditBatcher } from '../../audit/batcher.js';
import type { Metrics } from '../../ops/metrics.js';
import type { PrincipalStops } from '../../tenancy/principal-stops.js';
import type { ClientAuthenticator, RegisteredClient } from '../clients/authenticate.js';
import { InvalidRequest, InvalidScope, OAuthError, UnauthorizedClient, UnsupportedGrantType } from '../errors.js';
import { type FormParams, readFormParams } from '../form-params.js';
import { metricLabelOf } from '../grants/grant-types.js';
import type { GrantHandler, GrantRegistry, GrantResult, TokenRequest, TokenResponse } from '../grants/registry.js';

export interface TokenPipelineDeps {
  grantTypes: GrantRegistry;
  clientAuth: ClientAuthenticator;
  stops: PrincipalStops;
  auditBatcher: AuditBatcher;
  metrics: Metrics;
  agentUsage: AgentUsage;
  /** Anomaly responses (read-only agents) and per-agent rate limits; none when absent. */
  restrictions?: AgentRestrictionsView;
}

/** A token request as the endpoint received it. */
export interface TokenEndpointRequest {
  authorization: string | undefined;
  body: unknown;
  audit: AuditContext;
}

/**
 * The token endpoint (RFC 6749 §3.2) as named steps, run once for every grant type
 * (docs/architecture.md §3.6): authenticate the client, refuse a stopped agent, admit the agent,
 * run the grant's handler, record the issuance. A handler does only what its grant type needs.
 */
export function tokenPipeline(deps: TokenPipelineDeps): (request: TokenEndpointRequest) => Promise<TokenResponse> {
  return async ({ authorization, body, audit }) => {
    const { grantType, params, resources } = readTokenRequest(body);
    const client = await authenticateClient(deps, authorization, params);
    await refuseStoppedAgent(deps, client, grantType, audit);
    const handler = handlerFor(deps.grantTypes, grantType);
    const restrictScopes = await admitAgent(deps, handler, client);
    const result = await handler.handle({ client, ...declaredParameters(handler, { params, resources }), audit, restrictScopes });
    await recordIssuance(deps, handler, client, result, audit);
    return result.response;
  };
}

function readTokenRequest(body: unknown): FormParams & { grantType: string } {
  const { params, resources } = readFormParams(body);
  if (!params.grant_type) throw new InvalidRequest('grant_type is required');
  return { grantType: params.grant_type, params, resources };
}

/** RFC 6749 §2.3: consumes `client_id`, `client_secret` and `client_assertion`, which no handler sees. */
function authenticateClient(
  deps: TokenPipelineDeps,
  authorization: string | undefined,
  params: FormParams['params'],
): Promise<RegisteredClient> {
  return deps.clientAuth.authenticate(authorization, params);
}

/** The kill switch: a suspended or decommissioned agent gets no token of any grant type. */
async function refuseStoppedAgent(
  deps: TokenPipelineDeps,
  client: RegisteredClient,
  grantType: string,
  audit: AuditContext,
): Promise<void> {
  if (!deps.stops.isStopped(client.agentId)) return;
  await deps.auditBatcher.record(
    {
      kind: 'token.refused',
      orgId: client.orgId,
      actorId: client.id,
      agentId: client.agentId,
      result: 'failure',
      detail: { grant_type: grantType, reason: 'agent suspended' },
    },
    audit,
  );
  throw new UnauthorizedClient('the agent is suspended');
}

function handlerFor(grantTypes: GrantRegistry, grantType: string): GrantHandler {
  const handler = grantTypes.get(grantType);
  if (!handler) throw new UnsupportedGrantType(grantType);
  return handler;
}

const unrestricted = (scopes: string[]): string[] => scopes;

/**
 * Counts the request against the agent's per-minute limit, and returns what its anomaly
 * restriction leaves of the scopes the handler is about to mint. Only for grants where the agent
 * obtains a token on its own authority (`admitsAgent`).
 */
async function admitAgent(
  deps: TokenPipelineDeps,
  handler: GrantHandler,
  client: RegisteredClient,
): Promise<TokenRequest['restrictScopes']> {
  const { restrictions } = deps;
  const { agentId, orgId } = client;
  if (!handler.admitsAgent || !restrictions || !agentId || !orgId) return unrestricted;
  const { allowed, retryAfterSeconds } = await restrictions.admit(orgId, agentId);
  // RFC 6585 §4: 429; OAuth defines no rate-limit code for the token endpoint, so invalid_request says why.
  if (!allowed) throw new OAuthError('invalid_request', `too many token requests for this agent; retry in ${retryAfterSeconds} s`, 429);
  return (scopes) => {
    if (restrictions.restrictionOf(agentId) !== 'read_only') return scopes;
    const reads = readOnlyScopes(scopes);
    if (reads.length === 0) throw new InvalidScope('the agent is restricted to read-only scopes');
    return reads;
  };
}

/**
 * A handler sees the parameters it declared and no others, so what it reads is what it states
 * (docs/architecture.md §3.1); `resource`, which may repeat, arrives as `resources`.
 */
export function declaredParameters(
  handler: Pick<GrantHandler, 'parameters'>,
  { params, resources }: FormParams,
): Pick<TokenRequest, 'params' | 'resources'> {
  const declared: Record<string, string> = {};
  for (const name of handler.parameters) {
    const value = Object.hasOwn(params, name) ? params[name] : undefined;
    if (value !== undefined) declared[name] = value;
  }
  return { params: declared, resources: handler.parameters.includes('resource') ? resources : [] };
}

/** The issuance audit event (group-committed before the token is returned), its count, and the agent's usage. */
async function recordIssuance(
  deps: TokenPipelineDeps,
  handler: GrantHandler,
  client: RegisteredClient,
  { issued }: GrantResult,
  audit: AuditContext,
): Promise<void> {
  if (issued) {
    if (issued.event) await deps.auditBatcher.record(issued.event, audit);
    deps.metrics.tokensIssued.inc({ grant_type: metricLabelOf(handler.grantType) });
  }
  deps.agentUsage.record(client.agentId);
}
