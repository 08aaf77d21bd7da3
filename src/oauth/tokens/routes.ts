import type { FastifyInstance } from 'fastify';
import type { Grants } from '../../consent/grants.js';
import type { RevokedAccessTokens } from '../../consent/revoked-tokens.js';
import type { RateLimit } from '../../http/rate-limit.js';
import { auditContextOf } from '../../http/request-context.js';
import type { Store } from '../../store/store.js';
import type { Authorizations } from '../authorize/authorizations.js';
import { presentedCredentials, type RegisteredClient } from '../clients/authenticate.js';
import { InvalidClient, InvalidRequest } from '../errors.js';
import { formEndpoints, noStore, requireConfidential } from '../form-endpoints.js';
import { readFormParams } from '../form-params.js';
import { refuseOtherMethods } from '../post-only.js';
import type { ResourceCaller, ResourceCredentials } from '../resources/credentials.js';
import type { AccessTokenClaims, AccessTokens } from './access-token.js';
import type { LiveTokens } from './live-tokens.js';
import type { RefreshTokens } from './refresh-tokens.js';
import { type TokenPipelineDeps, tokenPipeline } from './token-pipeline.js';

export const TOKEN_PATH = '/oauth2/token';
export const INTROSPECTION_PATH = '/oauth2/introspect';
export const REVOCATION_PATH = '/oauth2/revoke';
export const PAR_PATH = '/oauth2/par';
export const BC_AUTHORIZE_PATH = '/oauth2/bc-authorize';

/** What the token pipeline needs, and what the other endpoints do. */
export interface TokenRouteOptions extends TokenPipelineDeps {
  store: Store;
  resourceCredentials: ResourceCredentials;
  accessTokens: AccessTokens;
  refreshTokens: RefreshTokens;
  revoked: RevokedAccessTokens;
  grants: Grants;
  authorizations: Authorizations;
  liveTokens: LiveTokens;
  rateLimit: RateLimit;
}

/** Who asks at the introspection endpoint: a confidential client, or a resource server by its own credential. */
type Introspector = { client: RegisteredClient } | { resource: ResourceCaller };

/**
 * RFC 7662 §2.1: the resource server presents its resource credential with HTTP Basic, the
 * credential id (`rsc_…`) as username; anyone else authenticates as a confidential client.
 */
async function authenticateIntrospector(
  authorization: string | undefined,
  params: Record<string, string | undefined>,
  options: TokenRouteOptions,
): Promise<Introspector> {
  const presented = presentedCredentials(authorization, params);
  if (presented.method === 'client_secret_basic' && presented.clientId.startsWith('rsc_')) {
    const resource = await options.resourceCredentials.authenticate(presented.clientId, presented.secret ?? '');
    if (!resource) throw new InvalidClient('client authentication failed', true, 'unknown, revoked or wrong resource credential');
    return { resource };
  }
  const client = await options.clientAuth.authenticate(authorization, params);
  requireConfidential(client);
  return { client };
}

/**
 * RFC 7662 §2.1: only parties the token concerns may read it: the client it was issued to, a
 * confidential client of the same organization (its resource servers), or the resource the token
 * is for, by the resource's own credential, whatever the organization (multi-tenant MCP servers).
 * Anyone else learns only `active: false`, so tokens of other tenants cannot be inspected.
 */
function mayIntrospect(caller: Introspector, claims: AccessTokenClaims): boolean {
  if ('resource' in caller) return claims.aud === caller.resource.identifier;
  const { client } = caller;
  return client.id === claims.client_id || (client.orgId !== null && client.orgId === claims.org_id);
}

/** The token, introspection and revocation endpoints. */
export async function tokenRoutes(app: FastifyInstance, options: TokenRouteOptions): Promise<void> {
  await formEndpoints(app);
  const { clientAuth, accessTokens, revoked, grants } = options;
  const tokenEndpoint = tokenPipeline(options);
  const config = { oauth: true, rateLimit: options.rateLimit };
  const tags = ['oauth'];

  app.post(TOKEN_PATH, { config, schema: { tags, summary: 'Token endpoint (RFC 6749 §3.2)' } }, async (request, reply) => {
    const audit = auditContextOf(request);
    return noStore(reply).send(await tokenEndpoint({ authorization: request.headers.authorization, body: request.body, audit }));
  });

  app.post(PAR_PATH, { config, schema: { tags, summary: 'Pushed authorization request (RFC 9126)' } }, async (request, reply) => {
    const { params } = readFormParams(request.body);
    const client = await clientAuth.authenticate(request.headers.authorization, params);
    return noStore(reply)
      .code(201)
      .send(await options.authorizations.push(client, request.body));
  });

  app.post(INTROSPECTION_PATH, { config, schema: { tags, summary: 'Token introspection (RFC 7662)' } }, async (request, reply) => {
    const { params } = readFormParams(request.body);
    const caller = await authenticateIntrospector(request.headers.authorization, params, options);
    if (!params.token) throw new InvalidRequest('token is required');
    noStore(reply);
    // Revoked tokens and grants, and any stopped member or agent of the chain (authz/liveness.ts), read inactive.
    const claims = options.liveTokens.claims(params.token);
    if (!claims || !mayIntrospect(caller, claims)) return { active: false };
    // A disabled or deleted client takes its tokens down with it. A client introspecting its own
    // token was just read through the same cache, and found active.
    const issuedTo =
      'client' in caller && caller.client.id === claims.client_id ? caller.client : await clientAuth.lookup(claims.client_id);
    if (!issuedTo?.active) return { active: false };
    return { active: true, token_type: 'Bearer', ...claims };
  });

  app.post(REVOCATION_PATH, { config, schema: { tags, summary: 'Token revocation (RFC 7009)' } }, async (request, reply) => {
    const { params } = readFormParams(request.body);
    // RFC 7009 §2.1: public clients may revoke their own tokens too, identified by client_id.
    const caller = await clientAuth.authenticate(request.headers.authorization, params);
    if (!params.token) throw new InvalidRequest('token is required');
    // RFC 7009 §2.1: only the client the token was issued to may revoke it. §2.2: an invalid or
    // foreign token still answers 200, so the endpoint reveals nothing about tokens.
    if (params.token.startsWith('mnd_rt_')) {
      // A refresh token stands for its grant: revoking it revokes the grant and everything below.
      const row = await options.refreshTokens.find(params.token, options.store.db);
      if (row && row.client_id === caller.id && !grants.isRevoked(row.grant_id)) {
        const grant = await grants.find(row.grant_id);
        if (grant) await grants.revoke(grant.id, 'refresh token revoked by the client', { orgId: grant.org_id }, auditContextOf(request));
      }
      return noStore(reply).code(200).send();
    }
    const claims = accessTokens.verify(params.token);
    if (claims && claims.client_id === caller.id && !revoked.has(claims.jti)) await revoked.revoke(claims, auditContextOf(request));
    return noStore(reply).code(200).send();
  });

  for (const path of [TOKEN_PATH, PAR_PATH, INTROSPECTION_PATH, REVOCATION_PATH]) refuseOtherMethods(app, path);
}
