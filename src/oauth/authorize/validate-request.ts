import type { ClientAuthenticator, RegisteredClient } from '../clients/authenticate.js';
import { ClientMetadataError } from '../clients/client-metadata-documents.js';
import { OAuthError } from '../errors.js';
import type { Resources } from '../resources/resources.js';
import type { Resource } from '../resources/schemas.js';
import { checkResource, checkScope } from '../tokens/token-target.js';
import { AuthorizationPageError, AuthorizationRedirectError } from './errors.js';
import { isPkceValue } from './pkce.js';
import { matchRedirectUri } from './redirect-uri.js';

export type Prompt = 'none' | 'login' | 'consent';

/** An authorization request whose every parameter has been checked. */
export interface ValidatedAuthorization {
  clientId: string;
  redirectUri: string;
  state: string | undefined;
  codeChallenge: string;
  resource: string;
  scopes: string[];
  prompt: Prompt | undefined;
  /** The organization the user chose, for clients that belong to none (dynamic registration). */
  orgId?: string;
  /** SHA-256 of the login nonce cookie of the browser that started this request. */
  browserHash?: string;
}

/** Where errors go once the redirect URI is trusted. */
export interface TrustedRedirect {
  redirectUri: string;
  state: string | undefined;
}

type Params = Readonly<Record<string, string | undefined>>;

/** Step 1: the client exists and is active; otherwise an error page, never a redirect. */
export async function checkClient(clients: ClientAuthenticator, params: Params): Promise<RegisteredClient> {
  if (!params.client_id) throw new AuthorizationPageError('Missing client', 'The request does not name a client (client_id).');
  const client = await clients.lookup(params.client_id).catch((error: unknown) => {
    if (error instanceof ClientMetadataError) throw new AuthorizationPageError('Client metadata rejected', error.message);
    throw error;
  });
  if (!client?.active) throw new AuthorizationPageError('Unknown client', 'This application is not registered, or has been disabled.');
  if (!client.grantTypes.has('authorization_code')) {
    throw new AuthorizationPageError('Client not allowed', 'This application may not ask users for authorization.');
  }
  return client;
}

/** Step 2: the redirect URI is one the client registered (RFC 9700 §4.1.3: exact match). */
export function checkRedirectUri(client: RegisteredClient, params: Params): TrustedRedirect {
  const redirectUri = params.redirect_uri;
  if (!redirectUri) throw new AuthorizationPageError('Missing redirect URI', 'The request does not say where to return (redirect_uri).');
  if (!matchRedirectUri(redirectUri, client.redirectUris)) {
    throw new AuthorizationPageError(
      'Unregistered redirect URI',
      'The address this application asked to return to is not registered for it.',
    );
  }
  // state is echoed back verbatim; a bound keeps stored requests small.
  if (params.state !== undefined && params.state.length > 1024) {
    throw new AuthorizationPageError('Invalid request', 'The state parameter is too long (at most 1024 characters).');
  }
  return { redirectUri, state: params.state };
}

/** Step 3: OAuth 2.1 has only the code flow. */
export function checkResponseType(params: Params): void {
  if (params.response_type !== 'code') throw new AuthorizationRedirectError('unsupported_response_type', 'response_type must be code');
}

/** Step 4: PKCE with S256 is required of every client (OAuth 2.1 §4.1.1, RFC 9700 §2.1.1). */
export function checkPkce(params: Params): string {
  if (!params.code_challenge) throw new AuthorizationRedirectError('invalid_request', 'code_challenge is required (PKCE)');
  if (params.code_challenge_method !== 'S256')
    throw new AuthorizationRedirectError('invalid_request', 'code_challenge_method must be S256');
  if (!isPkceValue(params.code_challenge)) throw new AuthorizationRedirectError('invalid_request', 'code_challenge is malformed');
  return params.code_challenge;
}

/** Step 5: one registered resource the client may use (RFC 8707), and scopes within bounds. */
export async function checkTarget(
  resources: Resources,
  client: RegisteredClient,
  params: Params,
  requested: readonly string[],
): Promise<{ resource: Resource; scopes: string[] }> {
  try {
    const resource = await checkResource(resources, client, requested);
    return { resource, scopes: checkScope(params.scope, client, resource) };
  } catch (error) {
    if (error instanceof OAuthError && (error.error === 'invalid_target' || error.error === 'invalid_scope')) {
      throw new AuthorizationRedirectError(error.error, error.description);
    }
    throw error;
  }
}

/** Step 6: OpenID Connect Core §3.1.2.1 prompt values Mandate honours. */
export function checkPrompt(params: Params): Prompt | undefined {
  const prompt = params.prompt;
  if (prompt === undefined) return undefined;
  if (prompt === 'none' || prompt === 'login' || prompt === 'consent') return prompt;
  throw new AuthorizationRedirectError('invalid_request', 'prompt must be none, login or consent');
}
