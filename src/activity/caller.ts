import type { FastifyRequest } from 'fastify';
import type { AdminKeys } from '../admin-keys/admin-keys.js';
import type { AuditContext } from '../audit/audit-log.js';
import { bearerChallenge, InvalidRequestError, MandateError, NotFoundError } from '../errors.js';
import { auditContextOf } from '../http/request-context.js';
import type { AccessTokenClaims, AccessTokens } from '../oauth/tokens/access-token.js';

/**
 * Who calls the APIs agents use (audit intents and runs, the token vault): an admin-key holder (a
 * platform backend, naming principals), or an agent or MCP server presenting the user's Mandate
 * access token, which then proves the principals and confines the caller to what that token is
 * for: its organization, its grant, its user. A token minted for another resource is accepted
 * here on purpose: it is the user's delegation that the agent exercises through Mandate.
 */
export type Caller = { kind: 'admin'; keyId: string } | { kind: 'token'; token: string; claims: AccessTokenClaims };

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}

/**
 * `audience`, when set, confines token callers to tokens minted for that resource (RFC 8707): the
 * token vault hands out users' provider credentials, so a token a resource server received for
 * itself must not be replayable there (no token passthrough).
 */
export function callerHook(adminKeys: AdminKeys, accessTokens: AccessTokens, options: { audience?: string } = {}) {
  return async (request: FastifyRequest): Promise<void> => {
    const bearer = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (!bearer) {
      throw new MandateError('unauthorized', 'an admin API key or a Mandate access token is required', { challenge: bearerChallenge() });
    }
    if (bearer.startsWith('mnd_ak_')) {
      const key = await adminKeys.authenticate(bearer);
      if (key) {
        request.adminKey = key;
        request.caller = { kind: 'admin', keyId: key.id };
        return;
      }
    } else {
      // Signature, issuer and expiry only: a token whose grant was revoked still gets its attempt recorded.
      const claims = accessTokens.verify(bearer);
      if (claims && options.audience !== undefined && claims.aud !== options.audience) {
        throw new MandateError('unauthorized', `the token is not for ${options.audience}`, {
          challenge: bearerChallenge({ error: 'invalid_token', error_description: 'wrong audience' }),
        });
      }
      if (claims) {
        request.caller = { kind: 'token', token: bearer, claims };
        return;
      }
    }
    throw new MandateError('unauthorized', 'the credential is invalid, expired or revoked', {
      challenge: bearerChallenge({ error: 'invalid_token' }),
    });
  };
}

/** With a token caller, principals come from the token: naming others is refused. */
export function principalsFromCaller<T extends { token?: string | undefined; organization?: string | undefined }>(
  caller: Caller,
  input: T & { member_id?: string | undefined; agent_id?: string | undefined; grant_id?: string | undefined },
): T {
  if (caller.kind === 'admin') return input;
  if (input.token || input.organization || input.member_id || input.agent_id || input.grant_id)
    throw new InvalidRequestError('with a bearer access token, the principals are the token’s: do not name others');
  return { ...input, token: caller.token };
}

/**
 * A token caller reaches only records of its own organization and grant (or, without a grant,
 * of its own subject): anything else is not found, as if it did not exist.
 */
export function requireOwnRecord(
  caller: Caller,
  record: { org_id: string | null; grant_id: string | null; member_id: string | null; agent_id: string | null },
  what: string,
): void {
  if (caller.kind === 'admin') return;
  const { claims } = caller;
  const sameOrg = record.org_id === claims.org_id;
  const sameConsent = claims.auth_event_id
    ? record.grant_id === claims.auth_event_id
    : record.grant_id === null && (record.member_id === claims.sub || record.agent_id === (claims.agent_id ?? claims.sub));
  if (!sameOrg || !sameConsent) throw new NotFoundError(what);
}

/** The caller the hook authenticated, and the audit context of the request naming it as the actor. */
export function callerOf(request: FastifyRequest): { caller: Caller; context: AuditContext } {
  const caller = request.caller as Caller;
  const context = auditContextOf(request);
  if (caller.kind === 'token') context.actorId = caller.claims.agent_id ?? caller.claims.sub;
  return { caller, context };
}
