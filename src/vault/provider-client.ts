import { basicAuthorization } from '../../sdk/src/introspect.js';
import { OutboundRequestError, outboundRequest } from '../outbound/request.js';
import type { ResolvedConnection } from './connections.js';
import { ProviderResponseError } from './providers/errors.js';
import { NORMALIZERS, normalizeTokenResponse } from './providers/normalizers.js';
import type { ProviderTokens } from './providers/types.js';

/** The provider refused (RFC 6749 §5.2), e.g. `invalid_grant` for a revoked or rotated refresh token. */
export class ProviderRefusedError extends Error {
  override name = 'ProviderRefusedError';
  constructor(
    readonly code: string,
    description: string,
  ) {
    super(description);
  }
}

/** The provider could not be reached or answered something unusable. */
export class ProviderUnavailableError extends Error {
  override name = 'ProviderUnavailableError';
}

export interface ProviderCallOptions {
  allowLoopback: boolean;
  timeoutMs?: number;
}

const TOKEN_RESPONSE_LIMIT = 64 * 1024;

/**
 * The answers that mean the grant itself is gone (RFC 6749 §5.2 `invalid_grant`, and the
 * providers' own words for it): only these end a connected account. Anything else (a rotated app
 * secret, `temporarily_unavailable`, a rate limit, a 5xx) is transient and keeps the tokens.
 */
const GRANT_GONE = new Set([
  'invalid_grant',
  'bad_refresh_token',
  'invalid_refresh_token',
  'BAD_REFRESH_TOKEN',
  'token_revoked',
  'token_expired',
]);

export function grantIsGone(error: unknown): error is ProviderRefusedError {
  return error instanceof ProviderRefusedError && GRANT_GONE.has(error.code);
}

/**
 * A token or revocation request body with the app's credentials, as the entry wants them: a form
 * (RFC 6749) or, for providers whose normalizer says so, JSON; credentials in HTTP Basic
 * (RFC 6749 §2.3.1) or in the body.
 */
function authenticatedBody(
  connection: ResolvedConnection,
  fields: Record<string, string>,
): { headers: Record<string, string>; body: string } {
  const { provider, row } = connection;
  const normalizer = provider.normalizer ? NORMALIZERS[provider.normalizer] : undefined;
  const values = { ...fields };
  const headers: Record<string, string> = { ...normalizer?.tokenRequestHeaders };
  if (provider.clientAuth === 'client_secret_basic') headers.authorization = basicAuthorization(row.client_id, connection.clientSecret());
  else Object.assign(values, { client_id: row.client_id, client_secret: connection.clientSecret() });
  if (normalizer?.tokenRequestFormat === 'json')
    return { headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(values) };
  return { headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(values).toString() };
}

/**
 * Calls a provider's token endpoint with the organization's app credentials, authenticated the way
 * the catalog entry says (RFC 6749 §2.3.1), with the entry's quirks applied by its normalizer.
 */
async function tokenRequest(
  connection: ResolvedConnection,
  form: Record<string, string>,
  options: ProviderCallOptions,
): Promise<ProviderTokens> {
  const { provider } = connection;
  const { headers, body: requestBody } = authenticatedBody(connection, form);
  let response: Awaited<ReturnType<typeof outboundRequest>>;
  try {
    response = await outboundRequest({
      method: 'POST',
      url: new URL(provider.tokenUrl),
      headers: { accept: 'application/json', ...headers },
      body: requestBody,
      allowLoopback: options.allowLoopback,
      timeoutMs: options.timeoutMs ?? 10_000,
      maxBytes: TOKEN_RESPONSE_LIMIT,
    });
  } catch (error) {
    throw new ProviderUnavailableError(error instanceof OutboundRequestError ? error.message : 'the provider could not be reached');
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(response.body) as Record<string, unknown>;
  } catch {
    throw new ProviderUnavailableError(`the provider answered HTTP ${response.status} without JSON`);
  }
  if (response.status >= 500) throw new ProviderUnavailableError(`the provider answered HTTP ${response.status}`);
  if (typeof body.error === 'string') throw new ProviderRefusedError(body.error, String(body.error_description ?? body.error));
  if (response.status >= 400) throw new ProviderUnavailableError(`the provider answered HTTP ${response.status}`);
  try {
    return normalizeTokenResponse(provider, body);
  } catch (error) {
    if (error instanceof ProviderResponseError && error.error !== 'invalid_token_response')
      throw new ProviderRefusedError(error.error, error.message);
    throw new ProviderUnavailableError(error instanceof Error ? error.message : 'unusable token response');
  }
}

/** RFC 6749 §4.1.3 with the PKCE verifier (RFC 7636 §4.5). */
export function exchangeCode(
  connection: ResolvedConnection,
  input: { code: string; redirectUri: string; codeVerifier: string | null },
  options: ProviderCallOptions,
): Promise<ProviderTokens> {
  return tokenRequest(
    connection,
    {
      grant_type: 'authorization_code',
      code: input.code,
      redirect_uri: input.redirectUri,
      ...(input.codeVerifier && { code_verifier: input.codeVerifier }),
    },
    options,
  );
}

/** RFC 6749 §6. */
export function refreshAccessToken(
  connection: ResolvedConnection,
  refreshToken: string,
  options: ProviderCallOptions,
): Promise<ProviderTokens> {
  return tokenRequest(connection, { grant_type: 'refresh_token', refresh_token: refreshToken }, options);
}

/** RFC 7009 at the provider, when it has a revocation endpoint; failures are reported, not thrown. */
export async function revokeAtProvider(
  connection: ResolvedConnection,
  token: string,
  hint: 'access_token' | 'refresh_token',
  options: ProviderCallOptions,
): Promise<boolean> {
  const { provider } = connection;
  if (!provider.revocationUrl) return false;
  const { headers, body } = authenticatedBody(connection, { token, token_type_hint: hint });
  try {
    const response = await outboundRequest({
      method: 'POST',
      url: new URL(provider.revocationUrl),
      headers,
      body,
      allowLoopback: options.allowLoopback,
      timeoutMs: options.timeoutMs ?? 10_000,
      maxBytes: TOKEN_RESPONSE_LIMIT,
    });
    return response.status >= 200 && response.status < 300;
  } catch {
    return false;
  }
}
