import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { MandateError } from '../errors.js';
import { errorResponses, OrgParams } from '../http/common-schemas.js';
import type { RateLimit } from '../http/rate-limit.js';
import { auditContextOf } from '../http/request-context.js';
import { setSessionCookie } from '../http/session-cookie.js';
import { statusOf } from '../http/status.js';
import type { SessionClient } from '../sessions/sessions.js';
import { pageSecurityHeaders } from '../ui/html.js';
import type { BreakGlass } from './break-glass.js';
import { BREAK_GLASS_PAGE_PATH, renderBreakGlassErrorPage, renderBreakGlassLoginPage, renderBreakGlassSignedInPage } from './page.js';

const Nullable = (schema: ReturnType<typeof Type.String>) => Type.Union([schema, Type.Null()]);
const BreakGlassAccount = Type.Object({
  member_id: Type.String(),
  email: Type.String(),
  name: Nullable(Type.String()),
  member_status: Type.String(),
  confirmed: Type.Boolean(),
  confirmed_at: Nullable(Type.String()),
  locked_until: Nullable(Type.String()),
  created_at: Type.String(),
  updated_at: Type.String(),
});
const Enrolment = Type.Object({
  member_id: Type.String(),
  confirmed: Type.Literal(false),
  totp: Type.Object({
    secret: Type.String({ description: 'Base32 TOTP secret: shown once, never again.' }),
    uri: Type.String({ description: 'otpauth:// URI for an authenticator app: shown once.' }),
    algorithm: Type.Literal('SHA1'),
    digits: Type.Literal(6),
    period: Type.Literal(30),
  }),
});
const MemberParams = Type.Object({ org: OrgParams.properties.org, member: Type.String({ minLength: 1, maxLength: 100 }) });
const Password = Type.String({ minLength: 1, maxLength: 1024, description: 'At least 16 characters.' });
const Code = Type.String({ minLength: 1, maxLength: 12, description: 'The current 6-digit code of the authenticator app.' });
const Login = Type.Object(
  {
    organization: Type.String({ minLength: 1, maxLength: 100, description: 'Organization id or slug.' }),
    email: Type.String({ minLength: 1, maxLength: 254 }),
    password: Password,
    code: Code,
  },
  { additionalProperties: false },
);

function clientOf(request: FastifyRequest): SessionClient {
  return { ip: request.ip, userAgent: request.headers['user-agent'] ?? null };
}

/** Admin routes (inside the admin-key scope): enrol, confirm, remove and list break-glass accounts. */
export const breakGlassAdminRoutes: FastifyPluginAsyncTypebox<{ breakGlass: BreakGlass }> = async (app, { breakGlass }) => {
  const security = [{ adminKey: [] }];
  const tags = ['break-glass'];
  app.post(
    '/organizations/:org/members/:member/break-glass',
    {
      schema: {
        tags,
        security,
        summary: 'Give a member a break-glass account; the TOTP secret is in this answer only',
        params: MemberParams,
        body: Type.Object({ password: Password }, { additionalProperties: false }),
        response: { 201: Enrolment, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .header('cache-control', 'no-store')
        .send(await breakGlass.enroll(request.params.org, request.params.member, request.body.password, auditContextOf(request))),
  );
  app.post(
    '/organizations/:org/members/:member/break-glass/confirm',
    {
      schema: {
        tags,
        security,
        summary: 'Confirm the enrolment with a first code; the account is usable from then on',
        params: MemberParams,
        body: Type.Object({ code: Code }, { additionalProperties: false }),
        response: { 200: BreakGlassAccount, ...errorResponses },
      },
    },
    async (request) => breakGlass.confirm(request.params.org, request.params.member, request.body.code, auditContextOf(request)),
  );
  app.post(
    '/organizations/:org/members/:member/break-glass/unlock',
    {
      schema: {
        tags,
        security,
        summary: 'Lift every lock of a break-glass account (the account’s and each source address’s)',
        params: MemberParams,
        response: { 200: BreakGlassAccount, ...errorResponses },
      },
    },
    async (request) => breakGlass.unlock(request.params.org, request.params.member, auditContextOf(request)),
  );
  app.delete(
    '/organizations/:org/members/:member/break-glass',
    {
      schema: {
        tags,
        security,
        summary: 'Remove a break-glass account (refused when it is the last way in)',
        params: MemberParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await breakGlass.remove(request.params.org, request.params.member, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
  app.get(
    '/organizations/:org/break-glass',
    {
      schema: {
        tags,
        security,
        summary: 'The organization’s break-glass accounts (no secrets)',
        params: OrgParams,
        response: { 200: Type.Object({ data: Type.Array(BreakGlassAccount) }), ...errorResponses },
      },
    },
    async (request) => ({ data: await breakGlass.list(request.params.org) }),
  );
};

/** POST /v1/break-glass/login: password and TOTP code for a short session (JSON). */
export const breakGlassLoginRoutes: FastifyPluginAsyncTypebox<{ breakGlass: BreakGlass; rateLimit: RateLimit }> = async (
  app,
  { breakGlass, rateLimit },
) => {
  app.post(
    '/break-glass/login',
    {
      config: { rateLimit },
      schema: { tags: ['break-glass'], summary: 'Break-glass login: password and TOTP code for a one-hour session', body: Login },
    },
    async (request, reply) =>
      reply
        .code(201)
        .header('cache-control', 'no-store')
        .send(await breakGlass.login(request.body, auditContextOf(request), clientOf(request))),
  );
};

const CSRF_COOKIE = 'mandate_break_glass';

function field(body: unknown, name: string): string {
  const value = (body as Record<string, unknown> | null)?.[name];
  return typeof value === 'string' ? value : '';
}

/** Only a path on this server, so the form cannot be turned into an open redirect. */
function safeReturnTo(value: string): string {
  return /^\/(?![/\\])[\x21-\x7e]*$/.test(value) && value.length <= 2000 ? value : '';
}

/**
 * The hosted break-glass login page (GET/POST /login/break-glass), without scripts. Login CSRF
 * is refused with a double-submit token: a random cookie (SameSite=Strict, so a cross-site form
 * post never carries it) and, in the form, its HMAC under a key shared by the nodes.
 */
export const breakGlassPageRoutes: FastifyPluginAsyncTypebox<{
  breakGlass: BreakGlass;
  rateLimit: RateLimit;
  secureCookies: boolean;
  csrfKey: Buffer;
}> = async (app, { breakGlass, rateLimit, secureCookies, csrfKey }) => {
  await app.register(cookie);
  await app.register(formbody, { bodyLimit: 8192 });
  const schema = { hide: true, tags: ['break-glass'] };
  const csrfFor = (nonce: string) => createHmac('sha256', csrfKey).update(`break-glass-login ${nonce}`, 'utf8').digest('base64url');
  const csrfMatches = (nonce: string | undefined, presented: string): boolean => {
    if (!nonce || !presented) return false;
    const expected = Buffer.from(csrfFor(nonce), 'utf8');
    const given = Buffer.from(presented, 'utf8');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  const send = (reply: FastifyReply, status: number, body: string) => reply.code(status).headers(pageSecurityHeaders()).send(body);
  const form = (reply: FastifyReply, status: number, values: { organization: string; email: string; returnTo: string; error?: string }) => {
    const nonce = randomBytes(32).toString('base64url');
    reply.setCookie(CSRF_COOKIE, nonce, {
      path: BREAK_GLASS_PAGE_PATH,
      httpOnly: true,
      secure: secureCookies,
      sameSite: 'strict',
      maxAge: 1800,
    });
    return send(reply, status, renderBreakGlassLoginPage({ ...values, csrfToken: csrfFor(nonce) }));
  };

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof MandateError)
      return send(reply, statusOf(error.code), renderBreakGlassErrorPage('Sign-in refused', error.description));
    if (error.statusCode !== undefined && error.statusCode < 500)
      return send(reply, error.statusCode, renderBreakGlassErrorPage('Invalid request', 'This request was not understood.'));
    request.log.error({ err: error }, 'break-glass page failed');
    return send(reply, 500, renderBreakGlassErrorPage('Something went wrong', `Try again. Reference: ${request.id}`));
  });

  app.get(
    BREAK_GLASS_PAGE_PATH,
    { config: { rateLimit }, schema: { ...schema, summary: 'Hosted break-glass login' } },
    async (request, reply) =>
      form(reply, 200, {
        organization: field(request.query, 'organization').slice(0, 100),
        email: '',
        returnTo: safeReturnTo(field(request.query, 'return_to')),
      }),
  );

  app.post(
    BREAK_GLASS_PAGE_PATH,
    { config: { rateLimit }, schema: { ...schema, summary: 'Break-glass login form' } },
    async (request, reply) => {
      const values = {
        organization: field(request.body, 'organization').trim().slice(0, 100),
        email: field(request.body, 'email').trim().slice(0, 254),
        returnTo: safeReturnTo(field(request.body, 'return_to')),
      };
      if (!csrfMatches(request.cookies[CSRF_COOKIE], field(request.body, 'csrf_token')))
        return form(reply, 403, { ...values, error: 'The form expired or did not come from this page. Nothing was sent; try again.' });
      const password = field(request.body, 'password');
      const code = field(request.body, 'code');
      if (!values.organization || !values.email || !password || !code || password.length > 1024 || code.length > 12)
        return form(reply, 400, { ...values, error: 'Fill in the organization, email, password and code.' });
      let issued: Awaited<ReturnType<BreakGlass['login']>>;
      try {
        issued = await breakGlass.login({ ...values, password, code }, auditContextOf(request), clientOf(request));
      } catch (error) {
        if (!(error instanceof MandateError) || (error.code !== 'unauthorized' && error.code !== 'forbidden')) throw error;
        return form(reply, statusOf(error.code), {
          ...values,
          error: `${error.description.charAt(0).toUpperCase()}${error.description.slice(1)}.`,
        });
      }
      reply.clearCookie(CSRF_COOKIE, { path: BREAK_GLASS_PAGE_PATH });
      setSessionCookie(reply, issued, secureCookies);
      if (values.returnTo) return reply.code(303).header('cache-control', 'no-store').redirect(values.returnTo, 303);
      return send(
        reply,
        200,
        renderBreakGlassSignedInPage({ email: issued.member.email, organization: values.organization, expiresAt: issued.expires_at }),
      );
    },
  );
};
