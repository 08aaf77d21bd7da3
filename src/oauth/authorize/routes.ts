import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MandateError } from '../../errors.js';
import type { RateLimit } from '../../http/rate-limit.js';
import { auditContextOf } from '../../http/request-context.js';
import { SESSION_COOKIE, setSessionCookie } from '../../http/session-cookie.js';
import { statusOf } from '../../http/status.js';
import type { ActiveSession, Sessions } from '../../sessions/sessions.js';
import { pageSecurityHeaders } from '../../ui/html.js';
import type { Authorizations, Next } from './authorizations.js';
import { renderConsentPage, renderErrorPage, renderOrganizationPage } from './consent-page.js';
import { AuthorizationPageError } from './errors.js';

export const AUTHORIZATION_PATH = '/oauth2/authorize';
/** Binds a login round trip to the browser that started it (see Next.browserNonce). */
export const LOGIN_COOKIE = 'mandate_login';

export interface AuthorizeRouteOptions {
  authorizations: Authorizations;
  sessions: Sessions;
  secureCookies: boolean;
  rateLimit: RateLimit;
}

function sendPage(reply: FastifyReply, status: number, body: string, formTargets: string[] | null = []): FastifyReply {
  return reply.code(status).headers(pageSecurityHeaders(formTargets)).send(body);
}

function field(body: unknown, name: string): string | undefined {
  const value = (body as Record<string, unknown> | null)?.[name];
  return typeof value === 'string' ? value : undefined;
}

/** The browser side of the code flow: authorization endpoint, login return, consent page. */
export async function authorizeRoutes(app: FastifyInstance, options: AuthorizeRouteOptions): Promise<void> {
  const { authorizations, sessions } = options;
  await app.register(cookie);
  await app.register(formbody, { bodyLimit: 32_768 });
  const config = { rateLimit: options.rateLimit };
  const tags = ['oauth'];

  /** The session of the browser's cookie, if it is still valid. */
  const sessionOf = async (request: FastifyRequest): Promise<ActiveSession | undefined> => {
    const token = request.cookies[SESSION_COOKIE];
    const session = token ? await sessions.authenticate(token).catch(() => undefined) : undefined;
    if (session?.impersonatorId) {
      // Consent would leave the impersonator long-lived tokens in the member's name (sessions/sessions.ts).
      throw new AuthorizationPageError(
        'Not while impersonating',
        'An impersonation session cannot authorize apps or agents for the member.',
        403,
      );
    }
    if (session) request.session = session;
    return session;
  };
  /** Sends the browser on; when it leaves to log in, first gives it the nonce it must bring back. */
  const redirect = (reply: FastifyReply, next: Next) => {
    if (next.browserNonce) {
      // SameSite=None: the organization's login app returns with a cross-site POST, on which a
      // Lax cookie would not be sent. Secure is required with None (browsers accept it on localhost).
      reply.setCookie(LOGIN_COOKIE, next.browserNonce, { path: '/oauth2', httpOnly: true, secure: true, sameSite: 'none', maxAge: 600 });
    }
    return reply.code(303).header('cache-control', 'no-store').redirect(next.location, 303);
  };

  // Pages, not JSON: a person reads these errors.
  app.setErrorHandler((error, request, reply) => {
    if (error instanceof AuthorizationPageError) return sendPage(reply, error.status, renderErrorPage(error.title, error.description));
    if (error instanceof MandateError) return sendPage(reply, statusOf(error.code), renderErrorPage('Sign-in failed', error.description));
    request.log.error({ err: error }, 'authorization flow failed');
    return sendPage(reply, 500, renderErrorPage('Something went wrong', `Try again from the application. Reference: ${request.id}`));
  });

  app.get(AUTHORIZATION_PATH, { config, schema: { tags, summary: 'Authorization endpoint (OAuth 2.1 §4.1.1)' } }, async (request, reply) =>
    redirect(reply, await authorizations.start(request.query, await sessionOf(request))),
  );

  app.get(
    '/oauth2/organization',
    { config, schema: { tags, summary: 'Organization choice for clients of no organization' } },
    async (request, reply) => {
      const requestId = field(request.query, 'request');
      if (!requestId) throw new AuthorizationPageError('Invalid request', 'No authorization request was named.');
      await authorizations.organizationOf(requestId).catch(() => undefined);
      return sendPage(reply, 200, renderOrganizationPage(requestId), null);
    },
  );

  app.post(
    '/oauth2/organization',
    { config, schema: { tags, summary: 'Choose the organization to sign in with' } },
    async (request, reply) => {
      const requestId = field(request.body, 'request');
      const organization = field(request.body, 'organization')?.trim().toLowerCase();
      if (!requestId || !organization) throw new AuthorizationPageError('Invalid request', 'Name your organization.');
      return redirect(reply, await authorizations.chooseOrganization(requestId, organization));
    },
  );

  // The organization's own login app posts the browser back here with a trusted token.
  app.post(
    '/oauth2/login',
    { config, schema: { tags, summary: 'Return from the organization login with a trusted token' } },
    async (request, reply) => {
      const requestId = field(request.body, 'mandate_request');
      const token = field(request.body, 'token');
      if (!requestId || !token)
        throw new AuthorizationPageError('Sign-in incomplete', 'The login page did not return a request and a token.');
      await authorizations.checkBrowser(requestId, request.cookies[LOGIN_COOKIE]);
      const orgId = await authorizations.organizationOf(requestId);
      const issued = await sessions.attest(orgId, token, auditContextOf(request));
      reply.clearCookie(LOGIN_COOKIE, { path: '/oauth2', secure: true, sameSite: 'none' });
      setSessionCookie(reply, issued, options.secureCookies);
      const session = await sessions.authenticate(issued.session_token);
      return redirect(reply, await authorizations.resume(requestId, session));
    },
  );

  app.get('/oauth2/consent', { config, schema: { tags, summary: 'Hosted consent page' } }, async (request, reply) => {
    const requestId = field(request.query, 'request');
    const session = await sessionOf(request);
    if (!requestId) throw new AuthorizationPageError('Invalid request', 'No authorization request was named.');
    if (!session) throw new AuthorizationPageError('Signed out', 'Your session has ended. Start again from the application.', 401);
    const prompt = await authorizations.consentPrompt(requestId, session);
    return sendPage(reply, 200, renderConsentPage(prompt), [prompt.redirect_target]);
  });

  app.post('/oauth2/consent', { config, schema: { tags, summary: 'Consent decision' } }, async (request, reply) => {
    const requestId = field(request.body, 'request');
    const session = await sessionOf(request);
    if (!requestId) throw new AuthorizationPageError('Invalid request', 'No authorization request was named.');
    if (!session) throw new AuthorizationPageError('Signed out', 'Your session has ended. Start again from the application.', 401);
    const decision = field(request.body, 'decision');
    if (decision !== 'allow' && decision !== 'deny') throw new AuthorizationPageError('Invalid request', 'Choose Allow or Deny.');
    const next = await authorizations.decide(
      requestId,
      session,
      { csrfToken: field(request.body, 'csrf_token'), allow: decision === 'allow' },
      auditContextOf(request),
    );
    return redirect(reply, next);
  });
}
