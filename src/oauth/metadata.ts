import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KeyRing } from '../crypto/key-ring.js';
import type { RateLimit } from '../http/rate-limit.js';
import { AUTHORIZATION_PATH } from './authorize/routes.js';
import { REGISTRATION_PATH } from './clients/registration-routes.js';
import type { GrantRegistry } from './grants/registry.js';
import { BC_AUTHORIZE_PATH, INTROSPECTION_PATH, PAR_PATH, REVOCATION_PATH, TOKEN_PATH } from './tokens/routes.js';

/** Where the JWK Set is served; other endpoints register their paths as they land. */
export const JWKS_PATH = '/oauth2/jwks';

/**
 * Authorization server metadata (RFC 8414 §2). Advertises only what this build implements;
 * each capability adds its endpoints here when it lands.
 */
export function serverMetadata(
  issuer: string,
  options: { registration: boolean; clientMetadataDocuments: boolean; grantTypes: readonly string[] },
): Record<string, unknown> {
  const clientAuthMethods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'];
  return {
    issuer,
    jwks_uri: `${issuer}${JWKS_PATH}`,
    authorization_endpoint: `${issuer}${AUTHORIZATION_PATH}`,
    pushed_authorization_request_endpoint: `${issuer}${PAR_PATH}`,
    // RFC 9126 §5: not required server-wide; individual clients can be made to require it.
    require_pushed_authorization_requests: false,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    token_endpoint: `${issuer}${TOKEN_PATH}`,
    token_endpoint_auth_methods_supported: clientAuthMethods,
    grant_types_supported: options.grantTypes,
    // OpenID CIBA Core §4: poll and ping modes; the user is named by login_hint, no user code.
    backchannel_authentication_endpoint: `${issuer}${BC_AUTHORIZE_PATH}`,
    backchannel_token_delivery_modes_supported: ['poll', 'ping'],
    backchannel_user_code_parameter_supported: false,
    introspection_endpoint: `${issuer}${INTROSPECTION_PATH}`,
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'],
    revocation_endpoint: `${issuer}${REVOCATION_PATH}`,
    revocation_endpoint_auth_methods_supported: clientAuthMethods,
    ...(options.registration && { registration_endpoint: `${issuer}${REGISTRATION_PATH}` }),
    ...(options.clientMetadataDocuments && { client_id_metadata_document_supported: true }),
    // OAuth 2.1 / RFC 9700 §2.1.1: S256 only; `plain` is never accepted.
    code_challenge_methods_supported: ['S256'],
    // RFC 9207 §3: authorization responses carry `iss`.
    authorization_response_iss_parameter_supported: true,
  };
}

/** The well-known paths for an issuer, path-inserted per RFC 8414 §3.1 when the issuer has a path. */
export function metadataPaths(issuer: string): { oauth: string[]; openid: string[] } {
  const issuerPath = new URL(issuer).pathname.replace(/\/+$/, '');
  const oauth = ['/.well-known/oauth-authorization-server'];
  const openid = ['/.well-known/openid-configuration'];
  if (issuerPath) {
    oauth.push(`/.well-known/oauth-authorization-server${issuerPath}`);
    openid.push(`${issuerPath}/.well-known/openid-configuration`);
  }
  return { oauth, openid };
}

/** Discovery documents are public and read cross-origin by browser-based MCP clients. */
function allowAnyOrigin(reply: FastifyReply): FastifyReply {
  return reply.header('access-control-allow-origin', '*').header('access-control-allow-methods', 'GET, OPTIONS');
}

const preflight = async (_request: FastifyRequest, reply: FastifyReply) => allowAnyOrigin(reply).code(204).send();

export interface MetadataRouteOptions {
  issuer: string;
  keyRing: KeyRing;
  /** Per-IP limit for these public endpoints. */
  rateLimit: RateLimit;
  /** Whether dynamic client registration is offered. */
  registration: boolean;
  /** Whether URL client ids (client ID metadata documents) are accepted. */
  clientMetadataDocuments: boolean;
  /** The token endpoint's grant types: discovery advertises what it registered. */
  grantTypes: GrantRegistry;
}

/** Registers discovery and JWKS: public, cacheable, CORS-open, rate-limited per IP. */
export async function metadataRoutes(app: FastifyInstance, options: MetadataRouteOptions): Promise<void> {
  const document = JSON.stringify(
    serverMetadata(options.issuer, {
      registration: options.registration,
      clientMetadataDocuments: options.clientMetadataDocuments,
      grantTypes: [...options.grantTypes.keys()],
    }),
  );
  const paths = metadataPaths(options.issuer);
  const config = { rateLimit: options.rateLimit };
  const tags = ['discovery'];

  for (const url of [...paths.oauth, ...paths.openid]) {
    app.get(
      url,
      { config, schema: { tags, summary: 'Authorization server metadata (RFC 8414, OpenID Connect Discovery)' } },
      async (_req, reply) => allowAnyOrigin(reply).header('cache-control', 'public, max-age=300').send(document),
    );
    app.options(url, { config, schema: { hide: true } }, preflight);
  }

  app.get(
    JWKS_PATH,
    { config, schema: { tags, summary: 'JSON Web Key Set (RFC 7517): next, active and recently retired keys' } },
    async (request, reply) => {
      const { body, etag } = options.keyRing.jwksJson();
      // Keys are published before they sign (crypto/key-ring.ts), so verifiers may cache for minutes.
      allowAnyOrigin(reply).header('cache-control', 'public, max-age=300, stale-while-revalidate=60').header('etag', etag);
      if (request.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.type('application/jwk-set+json').send(body);
    },
  );
  app.options(JWKS_PATH, { config, schema: { hide: true } }, preflight);
}
