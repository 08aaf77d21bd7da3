import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MandateError } from '../errors.js';
import type { RateLimit } from '../http/rate-limit.js';
import { auditContextOf } from '../http/request-context.js';
import { SESSION_COOKIE, setSessionCookie } from '../http/session-cookie.js';
import { statusOf } from '../http/status.js';
import type { Authorizations, Next } from '../oauth/authorize/authorizations.js';
import { renderErrorPage } from '../oauth/authorize/consent-page.js';
import { AuthorizationPageError } from '../oauth/authorize/errors.js';
import { LOGIN_COOKIE } from '../oauth/authorize/routes.js';
import type { Sessions } from '../sessions/sessions.js';
import type { SsoRelay } from '../sso/login-states.js';
import { SsoRejected } from '../sso/protocol.js';
import { type SsoLogin, SsoNotConfigured, type SsoStarted, type SsoTarget } from '../sso/sso-login.js';
import type { Organizations } from '../tenancy/organizations.js';
import { pageSecurityHeaders } from '../ui/html.js';
import { autoPostSecurityHeaders, type LoginPageOptions, renderAutoPostPage, renderLoginPage, renderSignedInPage } from './login-page.js';

/** Binds an SSO round trip to the browser that started it (sso_login_states.browser_hash). */
export const SSO_COOKIE = 'mandate_sso';
const DEFAULT_RETURN = '/sso/signed-in';
/** A SAML response with its signature and certificate fits well under this. */
const CALLBACK_BODY_LIMIT = 512 * 1024;

export interface SsoRouteOptions {
  ssoLogin: SsoLogin;
  sessions: Sessions;
  authorizations: Authorizations;
  organizations: Organizations;
  issuer: string;
  secureCookies: boolean;
  rateLimit: RateLimit;
}

/** A path on Mandate itself (one leading slash, no scheme, no `//` or `\`): never an open redirect. */
export function safeReturnPath(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return DEFAULT_RETURN;
  if (value.length > 2000 || !/^\/(?![/\\])[\x21-\x7e]*$/.test(value) || value.includes('\\')) return undefined;
  return value;
}

function text(source: unknown, name: string): string | undefined {
  const value = (source as Record<string, unknown> | null)?.[name];
  return typeof value === 'string' && value.length <= 2000 ? value : undefined;
}

/** First value of each parameter (the protocols refuse repeated ones themselves where it matters). */
function flatten(source: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries((source as Record<string, unknown> | null) ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (typeof first === 'string') out[key] = first;
  }
  return out;
}

function sendPage(reply: FastifyReply, status: number, body: string, headers = pageSecurityHeaders(null)): FastifyReply {
  return reply.code(status).headers(headers).send(body);
}

/**
 * The hosted sign-in page and the SSO round trip: `/login`, `/sso/start`, the connection's
 * callback (GET for OIDC, POST for SAML), `/oauth2/sso` for an authorization request, and the
 * signed-in page. Public, rate-limited, and rendered as pages.
 */
export async function ssoRoutes(app: FastifyInstance, options: SsoRouteOptions): Promise<void> {
  const { ssoLogin, sessions, authorizations } = options;
  await app.register(cookie);
  await app.register(formbody, { bodyLimit: CALLBACK_BODY_LIMIT });
  const config = { rateLimit: options.rateLimit };
  const tags = ['sso'];

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof AuthorizationPageError) return sendPage(reply, error.status, renderErrorPage(error.title, error.description));
    if (error instanceof SsoRejected) return sendPage(reply, 403, renderErrorPage('Sign-in refused', error.description));
    if (error instanceof MandateError) {
      const status = statusOf(error.code);
      return sendPage(reply, status, renderErrorPage(status === 403 ? 'Sign-in refused' : 'Sign-in failed', error.description));
    }
    request.log.error({ err: error }, 'SSO sign-in failed');
    return sendPage(reply, 500, renderErrorPage('Something went wrong', `Try signing in again. Reference: ${request.id}`));
  });

  /** Sends the browser to its identity provider, carrying the binding cookie. */
  const send = (reply: FastifyReply, started: Extract<SsoStarted, { kind: 'send' }>) => {
    // SameSite=None: SAML answers with a cross-site POST, on which a Lax cookie is not sent.
    reply.setCookie(SSO_COOKIE, started.browserSecret, { path: '/sso', httpOnly: true, secure: true, sameSite: 'none', maxAge: 600 });
    if (started.send.kind === 'post')
      return sendPage(reply, 200, renderAutoPostPage(started.send.action, started.send.fields), autoPostSecurityHeaders());
    return reply.code(303).header('cache-control', 'no-store').redirect(started.send.location, 303);
  };
  /** Starts SSO, or shows the sign-in page again (asking for the email, or saying what is wrong). */
  const start = async (reply: FastifyReply, target: SsoTarget, relay: SsoRelay, page: LoginPageOptions) => {
    try {
      const started = await ssoLogin.start(target, relay);
      if (started.kind === 'ask_email') return sendPage(reply, 200, renderLoginPage({ ...page, organization: started.organization }));
      return send(reply, started);
    } catch (error) {
      if (error instanceof SsoNotConfigured)
        return sendPage(reply, 404, renderLoginPage({ ...page, email: target.email, error: error.description }));
      throw error;
    }
  };
  const redirect = (reply: FastifyReply, next: Next) => {
    if (next.browserNonce) {
      reply.setCookie(LOGIN_COOKIE, next.browserNonce, { path: '/oauth2', httpOnly: true, secure: true, sameSite: 'none', maxAge: 600 });
    }
    return reply.code(303).header('cache-control', 'no-store').redirect(next.location, 303);
  };

  app.get('/login', { config, schema: { tags, summary: 'Hosted sign-in page (email or organization)' } }, async (request, reply) => {
    const returnTo = safeReturnPath(text(request.query, 'return_to'));
    if (!returnTo) throw new AuthorizationPageError('Invalid request', 'return_to must be a path on this server.');
    return sendPage(
      reply,
      200,
      renderLoginPage({ action: '/sso/start', hidden: { return_to: returnTo === DEFAULT_RETURN ? undefined : returnTo } }),
    );
  });

  app.get('/sso/start', { config, schema: { tags, summary: 'Start SSO by email, organization or connection' } }, async (request, reply) => {
    const returnTo = safeReturnPath(text(request.query, 'return_to'));
    if (!returnTo) throw new AuthorizationPageError('Invalid request', 'return_to must be a path on this server.');
    const target: SsoTarget = {
      email: text(request.query, 'email')?.trim() || undefined,
      organization: text(request.query, 'organization')?.trim() || undefined,
      connection: text(request.query, 'connection') || undefined,
    };
    const hidden = { return_to: returnTo === DEFAULT_RETURN ? undefined : returnTo };
    return start(reply, target, { return_to: returnTo }, { action: '/sso/start', hidden });
  });

  // Under /oauth2 so the authorization request's browser cookie (LOGIN_COOKIE, path /oauth2) comes along.
  app.get('/oauth2/sso', { config, schema: { tags, summary: 'SSO for an authorization request' } }, async (request, reply) => {
    const requestId = text(request.query, 'request');
    if (!requestId) throw new AuthorizationPageError('Invalid request', 'No authorization request was named.');
    await authorizations.checkBrowser(requestId, request.cookies[LOGIN_COOKIE]);
    const orgId = await authorizations.organizationOf(requestId);
    const target: SsoTarget = { organization: orgId, email: text(request.query, 'email')?.trim() || undefined };
    return start(reply, target, { request: requestId }, { action: '/oauth2/sso', hidden: { request: requestId } });
  });

  const callback = async (request: FastifyRequest<{ Params: { connection: string } }>, reply: FastifyReply) => {
    const connectionId = request.params.connection;
    if (!/^sso_[0-9a-z]{26}$/.test(connectionId))
      throw new AuthorizationPageError('Unknown sign-in method', 'This sign-in link is not valid.', 404);
    const search = request.raw.url?.includes('?') ? request.raw.url.slice(request.raw.url.indexOf('?')) : '';
    const finished = await ssoLogin.finish(
      connectionId,
      {
        url: new URL(`${options.issuer}/sso/callback/${connectionId}${search}`),
        query: flatten(request.query),
        body: request.method === 'POST' ? flatten(request.body) : {},
      },
      request.cookies[SSO_COOKIE],
      auditContextOf(request),
      { ip: request.ip, userAgent: request.headers['user-agent'] ?? null },
    );
    setSessionCookie(reply, finished.issued, options.secureCookies);
    const { relay } = finished;
    if ('request' in relay) {
      reply.clearCookie(LOGIN_COOKIE, { path: '/oauth2', secure: true, sameSite: 'none' });
      const session = await sessions.authenticate(finished.issued.session_token);
      return redirect(reply, await authorizations.resume(relay.request, session));
    }
    return redirect(reply, { location: `${options.issuer}${safeReturnPath(relay.return_to) ?? DEFAULT_RETURN}` });
  };
  const callbackSummary = 'The identity provider’s answer (OIDC: GET with the query; SAML: POST with the form)';
  app.get<{ Params: { connection: string } }>(
    '/sso/callback/:connection',
    { config, schema: { tags, summary: callbackSummary } },
    callback,
  );
  app.post<{ Params: { connection: string } }>(
    '/sso/callback/:connection',
    { config, bodyLimit: CALLBACK_BODY_LIMIT, schema: { tags, summary: callbackSummary } },
    callback,
  );

  app.get('/sso/signed-in', { config, schema: { tags, summary: 'Where a sign-in lands by default' } }, async (request, reply) => {
    const token = request.cookies[SESSION_COOKIE];
    const session = token ? await sessions.authenticate(token).catch(() => undefined) : undefined;
    const member = session ? await sessions.member(session) : undefined;
    const org = session ? await options.organizations.require(session.orgId).catch(() => undefined) : undefined;
    return sendPage(reply, 200, renderSignedInPage(member && org ? { email: member.email, organization: org.name } : undefined));
  });
}
