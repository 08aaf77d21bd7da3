import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCompactJws } from '../src/crypto/signing-key.js';
import type { MandateNode } from '../src/node.js';
import { GRANT_TYPES } from '../src/oauth/grants/grant-types.js';
import { createTestDatabase, startListeningNode, type TestDatabase } from './support/nodes.js';

describe('discovery over real HTTP', () => {
  let db: TestDatabase;
  let node: MandateNode;
  let issuer: string;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    ({ node, issuer } = await startListeningNode(db));
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('openid-client discovery() accepts the issuer', async () => {
    const config = await client.discovery(new URL(issuer), 'cli_example', undefined, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(issuer);
    expect(metadata.jwks_uri).toBe(`${issuer}/oauth2/jwks`);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true);
  });

  it('serves the same document at the RFC 8414 and OpenID paths, advertising only what exists', async () => {
    const oauth = (await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    const openid = await fetch(`${issuer}/.well-known/openid-configuration`);
    expect(await openid.json()).toEqual(oauth);
    expect(openid.headers.get('access-control-allow-origin')).toBe('*');
    expect(Object.keys(oauth).sort()).toEqual(
      [
        'authorization_endpoint',
        'pushed_authorization_request_endpoint',
        'require_pushed_authorization_requests',
        'response_types_supported',
        'response_modes_supported',
        'authorization_response_iss_parameter_supported',
        'code_challenge_methods_supported',
        'issuer',
        'jwks_uri',
        'token_endpoint',
        'token_endpoint_auth_methods_supported',
        'grant_types_supported',
        'introspection_endpoint',
        'introspection_endpoint_auth_methods_supported',
        'token_endpoint_auth_signing_alg_values_supported',
        'revocation_endpoint',
        'revocation_endpoint_auth_methods_supported',
        'registration_endpoint',
        'client_id_metadata_document_supported',
        'backchannel_authentication_endpoint',
        'backchannel_token_delivery_modes_supported',
        'backchannel_user_code_parameter_supported',
      ].sort(),
    );
    // What the token endpoint registered, which is the one list clients may be given.
    expect(oauth.grant_types_supported).toEqual([
      'authorization_code',
      'refresh_token',
      'client_credentials',
      'urn:ietf:params:oauth:grant-type:token-exchange',
      'urn:openid:params:grant-type:ciba',
    ]);
    expect(oauth.grant_types_supported).toEqual([...GRANT_TYPES]);
    expect((await fetch(String(oauth.jwks_uri))).status).toBe(200);
    // Every advertised POST endpoint exists and answers an empty request with an OAuth error.
    for (const key of ['token_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'backchannel_authentication_endpoint']) {
      const res = await fetch(String(oauth[key]), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: '',
      });
      expect([400, 401]).toContain(res.status);
      expect(((await res.json()) as { error: string }).error).toMatch(/^invalid_(request|client)$/);
    }
  });

  it('answers a CORS preflight on discovery and JWKS', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/oauth2/jwks']) {
      const res = await fetch(`${issuer}${path}`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
    }
  });

  it('a token signed by the active key verifies through jose remote JWKS', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = signCompactJws(
      node.keyRing.activeKey(),
      { typ: 'at+jwt' },
      { iss: issuer, aud: 'https://api.test', iat: now, exp: now + 60 },
    );
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${issuer}/oauth2/jwks`)), {
      issuer,
      audience: 'https://api.test',
    });
    expect(payload.iss).toBe(issuer);
  });
});
