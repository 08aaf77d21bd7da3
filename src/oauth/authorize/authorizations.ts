import type { AuditContext, AuditLog } from '../../audit/audit-log.js';
import { type Clock, isoAt } from '../../clock.js';
import type { Grants } from '../../consent/grants.js';
import { newId } from '../../crypto/ids.js';
import { hashSecret, newSecret, secretMatches } from '../../crypto/secret-token.js';
import type { ActiveSession } from '../../sessions/sessions.js';
import type { TrustedTokens } from '../../sessions/trusted-tokens.js';
import type { GrantsTable } from '../../store/schema.js';
import type { Store } from '../../store/store.js';
import { type Executor, inTransaction } from '../../store/transaction.js';
import { loginRefusal } from '../../tenancy/login-policy.js';
import { type Organizations, settingsOf } from '../../tenancy/organizations.js';
import type { ClientAuthenticator, RegisteredClient } from '../clients/authenticate.js';
import { InvalidRequest, OAuthError, type OAuthErrorCode } from '../errors.js';
import { readFormParams } from '../form-params.js';
import type { Resources } from '../resources/resources.js';
import { AuthorizationPageError, AuthorizationRedirectError } from './errors.js';
import { isLoopbackRedirect } from './redirect-uri.js';
import {
  checkClient,
  checkPkce,
  checkPrompt,
  checkRedirectUri,
  checkResponseType,
  checkTarget,
  type TrustedRedirect,
  type ValidatedAuthorization,
} from './validate-request.js';

/** How long a user has to log in and consent. */
const REQUEST_TTL_SECONDS = 600;
/** Authorization codes are short-lived (RFC 6749 §4.1.2: a maximum of 10 minutes is RECOMMENDED). */
const CODE_TTL_SECONDS = 60;
/** RFC 9126 §2.2: pushed requests are short-lived (5 to 600 seconds). */
const PUSHED_REQUEST_TTL_SECONDS = 60;
export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';

/** Where the browser goes next. */
export type Next = {
  location: string;
  /**
   * Set when the user leaves for their organization's login: a nonce the browser must keep in a
   * cookie and bring back to /oauth2/login, so a login cannot be completed in another browser
   * (login CSRF: an attacker's trusted token cannot sign a victim into the attacker's session).
   */
  browserNonce?: string;
};

/** What the consent page (or a customer's own consent UI) shows. */
export interface ConsentPrompt {
  request_id: string;
  csrf_token: string;
  client: { id: string; name: string };
  organization: { id: string; name: string };
  redirect_host: string;
  /** Where the browser goes after the answer: an origin, or a private-use scheme (RFC 8252 §7.1). */
  redirect_target: string;
  localhost_only: boolean;
  resource: { identifier: string; name: string };
  scopes: { name: string; description: string }[];
}

/** What the authorization flow needs to know of SSO (sso/connections.ts). */
export interface SsoAvailability {
  hasActiveConnection(orgId: string): Promise<boolean>;
}

export interface AuthorizationDeps {
  store: Store;
  clients: ClientAuthenticator;
  resources: Resources;
  organizations: Organizations;
  trustedTokens: TrustedTokens;
  /** SSO connections: an organization that has one signs in through it. */
  sso?: SsoAvailability;
  grants: Grants;
  audit: AuditLog;
  clock: Clock;
  issuer: string;
  grantTtlSeconds: number;
}

/** Appends authorization response parameters, always with `iss` (RFC 9207 §2). */
export function clientRedirect(redirectUri: string, issuer: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value);
  url.searchParams.set('iss', issuer);
  return url.toString();
}

/**
 * The authorization code flow from the browser's side: validate the request, send the user to
 * log in at their organization's own app, ask for (or remember) consent, and issue the code.
 */
export class Authorizations {
  constructor(private readonly deps: AuthorizationDeps) {}

  /** GET /oauth2/authorize: validates, stores the request, and continues with the user's session. */
  async start(query: unknown, session: ActiveSession | undefined): Promise<Next> {
    const { params, resources } = readFormParamsOrPage(query);
    if (params.request_uri) return this.startPushed(params, session);
    const client = await checkClient(this.deps.clients, params);
    const trusted = checkRedirectUri(client, params);
    try {
      // RFC 9126 §6: a client that must push its requests may not send them through the browser.
      if (client.requirePar) throw new AuthorizationRedirectError('invalid_request', 'this client must use pushed authorization requests');
      const request = await this.validate(client, trusted, params, resources);
      const id = await this.store(request, REQUEST_TTL_SECONDS);
      return await this.proceed(id, request, client, session, { freshLogin: false });
    } catch (error) {
      if (error instanceof AuthorizationRedirectError) return this.redirectError(trusted.redirectUri, trusted.state, error);
      throw error;
    }
  }

  /**
   * POST /oauth2/par (RFC 9126): the authenticated client pushes its request, checked exactly as
   * at the authorization endpoint; it gets a one-time `request_uri` valid for a minute.
   */
  async push(client: RegisteredClient, body: unknown): Promise<{ request_uri: string; expires_in: number }> {
    const { params, resources } = readFormParams(body);
    if (params.request_uri) throw new InvalidRequest('request_uri must not be pushed (RFC 9126 §2.1)');
    if (params.client_id !== undefined && params.client_id !== client.id)
      throw new InvalidRequest('client_id does not match the authenticated client');
    try {
      const trusted = checkRedirectUri(client, params);
      const request = await this.validate(client, trusted, params, resources);
      const id = await this.store({ ...request, pushed: true }, PUSHED_REQUEST_TTL_SECONDS);
      return { request_uri: `${REQUEST_URI_PREFIX}${id}`, expires_in: PUSHED_REQUEST_TTL_SECONDS };
    } catch (error) {
      // The client is talking to us directly: errors are RFC 6749 §5.2 JSON, not redirects.
      if (error instanceof AuthorizationRedirectError)
        throw new OAuthError(
          error.error === 'unsupported_response_type'
            ? 'invalid_request'
            : (error.error as Exclude<OAuthErrorCode, 'invalid_client' | 'invalid_token'>),
          error.description,
        );
      if (error instanceof AuthorizationPageError) throw new InvalidRequest(error.description);
      throw error;
    }
  }

  /** After login at the organization's app: continue the stored request with the new session. */
  async resume(requestId: string, session: ActiveSession): Promise<Next> {
    const { request, client } = await this.load(requestId);
    try {
      return await this.proceed(requestId, request, client, session, { freshLogin: true });
    } catch (error) {
      if (error instanceof AuthorizationRedirectError) return this.redirectError(request.redirectUri, request.state, error);
      throw error;
    }
  }

  /**
   * Deletes abandoned requests and old codes. Codes are kept a day past expiry, so a replay soon
   * after still finds the consumed code and revokes its grant.
   */
  async purgeExpired(): Promise<void> {
    const now = this.deps.clock.now();
    await this.deps.store.db.deleteFrom('authorization_requests').where('expires_at', '<', new Date(now).toISOString()).execute();
    await this.deps.store.db
      .deleteFrom('authorization_codes')
      .where('expires_at', '<', new Date(now - 86_400_000).toISOString())
      .execute();
  }

  /** Refuses a login return that did not start in this browser (the nonce cookie set at the authorization endpoint). */
  async checkBrowser(requestId: string, nonce: string | undefined): Promise<void> {
    const { request } = await this.load(requestId);
    if (!nonce || !request.browserHash || !secretMatches(nonce, request.browserHash)) {
      throw new AuthorizationPageError(
        'Sign-in not started here',
        'This sign-in did not start in this browser. Start again from the application.',
        403,
      );
    }
  }

  private async bindBrowser(requestId: string, request: ValidatedAuthorization): Promise<string> {
    const nonce = newSecret('mnd_csrf_');
    const bound: ValidatedAuthorization = { ...request, browserHash: hashSecret(nonce) };
    await this.deps.store.db
      .updateTable('authorization_requests')
      .set({ params: JSON.stringify(bound) })
      .where('id', '=', requestId)
      .execute();
    return nonce;
  }

  /** The organization a stored request's user must log in to: the client's, or the one the user chose. */
  async organizationOf(requestId: string): Promise<string> {
    const { request, client } = await this.load(requestId);
    const orgId = client.orgId ?? request.orgId;
    if (!orgId) throw new AuthorizationPageError('Organization unknown', 'Choose your organization first.');
    return orgId;
  }

  /**
   * For a client of no organization (dynamic registration): the user names their organization
   * (id or slug), and is sent to that organization's login page.
   */
  async chooseOrganization(requestId: string, orgRef: string): Promise<Next> {
    const { request, client } = await this.load(requestId);
    if (client.orgId) throw new AuthorizationPageError('Invalid request', 'This application belongs to one organization already.');
    const org = await this.deps.organizations.require(orgRef).catch(() => {
      throw new AuthorizationPageError('Unknown organization', 'No organization has that name. Check it with your administrator.', 404);
    });
    const chosen: ValidatedAuthorization = { ...request, orgId: org.id };
    await this.deps.store.db
      .updateTable('authorization_requests')
      .set({ params: JSON.stringify(chosen) })
      .where('id', '=', requestId)
      .execute();
    return { location: await this.loginLocation(org.id, requestId) };
  }

  /** What to show on the consent page; each call mints a fresh CSRF token bound to the request. */
  async consentPrompt(requestId: string, session: ActiveSession): Promise<ConsentPrompt> {
    const { request, client } = await this.load(requestId);
    this.assertSessionFits(client, session);
    const csrf = newSecret('mnd_csrf_');
    // The CSRF token is valid for this session only: a token from another user's page is refused.
    await this.deps.store.db
      .updateTable('authorization_requests')
      .set({ csrf_hash: hashSecret(`${session.id} ${csrf}`) })
      .where('id', '=', requestId)
      .execute();
    const resource = await this.deps.resources.findByIdentifier(request.resource);
    const org = await this.deps.organizations.require(session.orgId);
    const redirectUrl = new URL(request.redirectUri);
    const described = new Map((resource?.scopes ?? []).map((s) => [s.name, s.description]));
    return {
      request_id: requestId,
      csrf_token: csrf,
      client: { id: client.id, name: client.name },
      organization: { id: org.id, name: org.name },
      redirect_host: redirectUrl.host || redirectUrl.protocol,
      redirect_target: redirectUrl.protocol === 'http:' || redirectUrl.protocol === 'https:' ? redirectUrl.origin : redirectUrl.protocol,
      localhost_only: isLoopbackRedirect(request.redirectUri),
      resource: { identifier: request.resource, name: resource?.name ?? request.resource },
      scopes: request.scopes.map((name) => ({ name, description: described.get(name) ?? name })),
    };
  }

  /** The user's answer. The CSRF token must be the one the consent page carried. */
  async decide(
    requestId: string,
    session: ActiveSession,
    input: { csrfToken: string | undefined; allow: boolean },
    context: AuditContext,
  ): Promise<Next> {
    const row = await this.deps.store.db.selectFrom('authorization_requests').selectAll().where('id', '=', requestId).executeTakeFirst();
    if (!row || !input.csrfToken || !row.csrf_hash || !secretMatches(`${session.id} ${input.csrfToken}`, row.csrf_hash)) {
      throw new AuthorizationPageError(
        'Request not valid',
        'This consent form has expired or was not issued to you. Start again from the application.',
        403,
      );
    }
    const { request, client } = await this.load(requestId);
    this.assertSessionFits(client, session);
    const resource = await this.deps.resources.findByIdentifier(request.resource);
    if (!resource || (resource.org_ids !== null && !resource.org_ids.includes(session.orgId))) {
      return this.redirectError(
        request.redirectUri,
        request.state,
        new AuthorizationRedirectError('invalid_target', 'the resource is not available to your organization'),
      );
    }
    if (!input.allow) {
      await inTransaction(this.deps.store, async (trx) => {
        await trx.deleteFrom('authorization_requests').where('id', '=', requestId).execute();
        await this.deps.audit.append(
          trx,
          {
            kind: 'consent.denied',
            orgId: session.orgId,
            actorId: session.memberId,
            subjectId: session.memberId,
            detail: { client_id: client.id, scope: request.scopes.join(' ') },
          },
          context,
        );
      });
      return this.redirectError(
        request.redirectUri,
        request.state,
        new AuthorizationRedirectError('access_denied', 'the user denied the request'),
      );
    }
    // Incremental authorization: a new consent adds to what this user already granted this client
    // for this resource, so a step-up for one more scope does not lose the others.
    const previous = await this.deps.grants.findCovering(session.memberId, client.id, request.resource, []);
    const scopes = [...new Set([...(previous?.scope.split(' ') ?? []), ...request.scopes])];
    return inTransaction(this.deps.store, async (trx) => {
      const now = this.deps.clock.now();
      const grant: GrantsTable = {
        id: newId('grt', now),
        org_id: session.orgId,
        member_id: session.memberId,
        client_id: client.id,
        agent_id: client.agentId,
        scope: scopes.join(' '),
        resource: request.resource,
        created_at: isoAt(this.deps.clock),
        expires_at: new Date(now + this.deps.grantTtlSeconds * 1000).toISOString(),
        revoked_at: null,
        revoked_reason: null,
      };
      await this.deps.grants.insert(trx, grant);
      await this.deps.audit.append(
        trx,
        {
          kind: 'consent.granted',
          orgId: grant.org_id,
          actorId: session.memberId,
          subjectId: session.memberId,
          agentId: client.agentId,
          grantId: grant.id,
          scope: grant.scope,
          detail: { client_id: client.id, resource: grant.resource },
        },
        context,
      );
      // The new grant holds everything consented so far; the older ones end with it.
      await this.deps.grants.supersedeWithin(trx, grant, context);
      return this.issueCode(trx, requestId, { ...request, scopes }, grant);
    });
  }

  /** The checks every authorization request passes, pushed or not (validate-request.ts). */
  private async validate(
    client: RegisteredClient,
    trusted: TrustedRedirect,
    params: Readonly<Record<string, string | undefined>>,
    resources: readonly string[],
  ): Promise<ValidatedAuthorization> {
    checkResponseType(params);
    const codeChallenge = checkPkce(params);
    const { resource, scopes } = await checkTarget(this.deps.resources, client, params, resources);
    const prompt = checkPrompt(params);
    return { ...trusted, clientId: client.id, codeChallenge, resource: resource.identifier, scopes, prompt };
  }

  private async store(request: ValidatedAuthorization & { pushed?: boolean }, ttlSeconds: number): Promise<string> {
    const now = this.deps.clock.now();
    const id = newId('azr', now);
    await this.deps.store.db
      .insertInto('authorization_requests')
      .values({
        id,
        client_id: request.clientId,
        params: JSON.stringify(request),
        csrf_hash: '',
        created_at: isoAt(this.deps.clock),
        expires_at: new Date(now + ttlSeconds * 1000).toISOString(),
      })
      .execute();
    return id;
  }

  /** RFC 9126 §4: the browser brings only client_id and request_uri; the pushed request is used once. */
  private async startPushed(params: Readonly<Record<string, string | undefined>>, session: ActiveSession | undefined): Promise<Next> {
    const id = params.request_uri?.startsWith(REQUEST_URI_PREFIX) ? params.request_uri.slice(REQUEST_URI_PREFIX.length) : '';
    const row = id
      ? await this.deps.store.db.selectFrom('authorization_requests').selectAll().where('id', '=', id).executeTakeFirst()
      : undefined;
    const pushed = row ? (JSON.parse(row.params) as ValidatedAuthorization & { pushed?: boolean }) : undefined;
    if (!row || !pushed?.pushed || row.expires_at <= isoAt(this.deps.clock) || row.client_id !== params.client_id) {
      throw new AuthorizationPageError(
        'Request expired',
        'This pushed authorization request is unknown, expired or was already used. Start again from the application.',
      );
    }
    const deleted = await this.deps.store.db.deleteFrom('authorization_requests').where('id', '=', id).executeTakeFirst();
    if (Number(deleted.numDeletedRows) !== 1)
      throw new AuthorizationPageError('Request expired', 'This pushed authorization request was already used.');
    const client = await checkClient(this.deps.clients, params);
    const { pushed: _pushed, ...request } = pushed;
    try {
      const requestId = await this.store(request, REQUEST_TTL_SECONDS);
      return await this.proceed(requestId, request, client, session, { freshLogin: false });
    } catch (error) {
      if (error instanceof AuthorizationRedirectError) return this.redirectError(request.redirectUri, request.state, error);
      throw error;
    }
  }

  private async proceed(
    requestId: string,
    request: ValidatedAuthorization,
    client: RegisteredClient,
    session: ActiveSession | undefined,
    options: { freshLogin: boolean },
  ): Promise<Next> {
    const needsLogin =
      !session || (client.orgId !== null && session.orgId !== client.orgId) || (request.prompt === 'login' && !options.freshLogin);
    if (needsLogin || !session) {
      if (request.prompt === 'none') throw new AuthorizationRedirectError('login_required', 'the user is not logged in');
      const orgId = client.orgId ?? request.orgId;
      // A client of no organization: first ask the user which organization they sign in with.
      const browserNonce = await this.bindBrowser(requestId, request);
      if (!orgId) return { location: `${this.deps.issuer}/oauth2/organization?request=${encodeURIComponent(requestId)}`, browserNonce };
      return { location: await this.loginLocation(orgId, requestId), browserNonce };
    }
    const remembered = await this.deps.grants.findCovering(session.memberId, client.id, request.resource, request.scopes);
    if (remembered && request.prompt !== 'consent') {
      return inTransaction(this.deps.store, (trx) => this.issueCode(trx, requestId, request, remembered));
    }
    if (request.prompt === 'none') throw new AuthorizationRedirectError('consent_required', 'the user has not consented to this request');
    return { location: `${this.deps.issuer}/oauth2/consent?request=${encodeURIComponent(requestId)}` };
  }

  /**
   * Where the user logs in: the organization's SSO when it has an active connection and its
   * policy allows SSO; else its own login page, told where to send the user back with a trusted
   * token, unless its policy refuses trusted tokens (SSO required never falls back to it).
   */
  private async loginLocation(orgId: string, requestId: string): Promise<string> {
    const org = await this.deps.organizations.require(orgId);
    const settings = settingsOf(org);
    if (loginRefusal(settings, 'sso') === null && (await this.deps.sso?.hasActiveConnection(orgId))) {
      return `${this.deps.issuer}/oauth2/sso?request=${encodeURIComponent(requestId)}`;
    }
    const refusal = loginRefusal(settings, 'trusted_token');
    if (refusal)
      throw new AuthorizationPageError(
        'Sign-in unavailable',
        `${refusal}. Its single sign-on is not available right now: contact your administrator.`,
        403,
      );
    const loginUrl = await this.deps.trustedTokens.loginUrl(orgId);
    if (!loginUrl)
      throw new AuthorizationPageError('Login not configured', 'This organization has no login page configured for Mandate.', 500);
    const url = new URL(loginUrl);
    url.searchParams.set('mandate_request', requestId);
    url.searchParams.set('return_to', `${this.deps.issuer}/oauth2/login`);
    return url.toString();
  }

  private async issueCode(trx: Executor, requestId: string, request: ValidatedAuthorization, grant: GrantsTable): Promise<Next> {
    const code = newSecret('mnd_ac_');
    const now = this.deps.clock.now();
    await trx
      .insertInto('authorization_codes')
      .values({
        code_hash: hashSecret(code),
        grant_id: grant.id,
        client_id: request.clientId,
        redirect_uri: request.redirectUri,
        code_challenge: request.codeChallenge,
        scope: request.scopes.join(' '),
        resource: request.resource,
        created_at: isoAt(this.deps.clock),
        expires_at: new Date(now + CODE_TTL_SECONDS * 1000).toISOString(),
        consumed_at: null,
      })
      .execute();
    // The request is single use: of two concurrent submits, only the one that deletes it issues a code.
    const deleted = await trx.deleteFrom('authorization_requests').where('id', '=', requestId).executeTakeFirst();
    if (Number(deleted.numDeletedRows) !== 1)
      throw new AuthorizationPageError('Request already used', 'This authorization request was already answered.');
    return { location: clientRedirect(request.redirectUri, this.deps.issuer, { code, state: request.state }) };
  }

  private async load(requestId: string): Promise<{ request: ValidatedAuthorization; client: RegisteredClient }> {
    const row = await this.deps.store.db.selectFrom('authorization_requests').selectAll().where('id', '=', requestId).executeTakeFirst();
    if (!row || row.expires_at <= isoAt(this.deps.clock)) {
      throw new AuthorizationPageError(
        'Request expired',
        'This authorization request has expired or was already used. Start again from the application.',
      );
    }
    const client = await this.deps.clients.lookup(row.client_id);
    if (!client?.active) throw new AuthorizationPageError('Unknown client', 'This application is no longer registered.');
    return { request: JSON.parse(row.params) as ValidatedAuthorization, client };
  }

  /** A member of another organization cannot consent for this organization's client. */
  private assertSessionFits(client: RegisteredClient, session: ActiveSession): void {
    if (client.orgId !== null && session.orgId !== client.orgId) {
      throw new AuthorizationPageError(
        'Wrong organization',
        'You are signed in to another organization than this application belongs to.',
        403,
      );
    }
  }

  private redirectError(redirectUri: string, state: string | undefined, error: AuthorizationRedirectError): Next {
    return { location: clientRedirect(redirectUri, this.deps.issuer, { error: error.error, error_description: error.description, state }) };
  }
}

/** Query parameters of the authorization request: repeated ones are refused on a page (RFC 6749 §3.1). */
function readFormParamsOrPage(query: unknown): ReturnType<typeof readFormParams> {
  try {
    return readFormParams(query);
  } catch (error) {
    throw new AuthorizationPageError('Invalid request', (error as Error).message);
  }
}
