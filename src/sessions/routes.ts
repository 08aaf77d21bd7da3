import cookie from '@fastify/cookie';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { Grants } from '../consent/grants.js';
import { bearerChallenge, MandateError } from '../errors.js';
import { errorResponses, OrgParams } from '../http/common-schemas.js';
import type { RateLimit } from '../http/rate-limit.js';
import { auditContextOf } from '../http/request-context.js';
import { SESSION_COOKIE } from '../http/session-cookie.js';
import type { Organizations } from '../tenancy/organizations.js';
import { sessionAuthHook, sessionCredential } from './auth-hook.js';
import { Attest, CreateTrustedTokenProfile, TrustedTokenProfile } from './schemas.js';
import type { ActiveSession, Sessions } from './sessions.js';
import type { TrustedTokens } from './trusted-tokens.js';

const Grant = Type.Object({
  id: Type.String(),
  org_id: Type.String(),
  member_id: Type.String(),
  client_id: Type.String(),
  agent_id: Type.Union([Type.String(), Type.Null()]),
  scope: Type.String(),
  resource: Type.String(),
  created_at: Type.String(),
  expires_at: Type.String(),
  revoked_at: Type.Union([Type.String(), Type.Null()]),
  revoked_reason: Type.Union([Type.String(), Type.Null()]),
});
const GrantList = Type.Object({ data: Type.Array(Grant) });
const GrantParams = Type.Object({ grant: Type.String({ pattern: '^grt_[0-9a-z]{26}$' }) });

const Nullable = (schema: ReturnType<typeof Type.String>) => Type.Union([schema, Type.Null()]);
const SessionView = Type.Object({
  id: Type.String(),
  amr: Type.Array(Type.String()),
  impersonator_id: Nullable(Type.String()),
  connection_id: Nullable(Type.String()),
  client_ip: Nullable(Type.String()),
  user_agent: Nullable(Type.String()),
  created_at: Type.String(),
  expires_at: Type.String(),
  revoked_at: Nullable(Type.String()),
});
const SessionList = Type.Object({ data: Type.Array(SessionView) });
const OwnSessionList = Type.Object({ data: Type.Array(Type.Object({ ...SessionView.properties, current: Type.Boolean() })) });
const SessionId = Type.String({ pattern: '^ses_[0-9a-z]{26}$' });
const MemberSessionParams = Type.Object({ org: OrgParams.properties.org, member: Type.String({ minLength: 1, maxLength: 100 }) });
const SessionListQuery = Type.Object({
  include: Type.Optional(Type.Literal('all', { description: 'Also list ended (revoked or expired) sessions.' })),
});

/** Admin routes (inside the admin-key scope): trusted-token profiles, members' sessions and an organization's grants. */
export const identityAdminRoutes: FastifyPluginAsyncTypebox<{
  trustedTokens: TrustedTokens;
  grants: Grants;
  organizations: Organizations;
  sessions: Sessions;
}> = async (app, { trustedTokens, grants, organizations, sessions }) => {
  const security = [{ adminKey: [] }];
  app.get(
    '/organizations/:org/members/:member/sessions',
    {
      schema: {
        tags: ['sessions'],
        security,
        summary: 'A member’s sessions (active ones; ?include=all for ended ones too)',
        params: MemberSessionParams,
        querystring: SessionListQuery,
        response: { 200: SessionList, ...errorResponses },
      },
    },
    async (request) => {
      const member = await sessions.requireMember(request.params.org, request.params.member);
      return { data: await sessions.list(member.org_id, member.id, { includeAll: request.query.include === 'all' }) };
    },
  );
  app.delete(
    '/organizations/:org/members/:member/sessions/:session',
    {
      schema: {
        tags: ['sessions'],
        security,
        summary: 'End one of a member’s sessions',
        params: Type.Object({ ...MemberSessionParams.properties, session: SessionId }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const member = await sessions.requireMember(request.params.org, request.params.member);
      await sessions.revokeOf(
        member.org_id,
        member.id,
        { sessionId: request.params.session, by: 'administrator' },
        auditContextOf(request),
      );
      return reply.code(204).send(null);
    },
  );
  app.delete(
    '/organizations/:org/members/:member/sessions',
    {
      schema: {
        tags: ['sessions'],
        security,
        summary: 'End every session of a member',
        params: MemberSessionParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const member = await sessions.requireMember(request.params.org, request.params.member);
      await sessions.revokeOf(member.org_id, member.id, { by: 'administrator' }, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
  app.post(
    '/organizations/:org/trusted-token-profiles',
    {
      schema: {
        tags: ['identity'],
        security,
        params: OrgParams,
        body: CreateTrustedTokenProfile,
        response: { 201: TrustedTokenProfile, ...errorResponses },
      },
    },
    async (request, reply) => reply.code(201).send(await trustedTokens.create(request.params.org, request.body, auditContextOf(request))),
  );
  app.get(
    '/organizations/:org/trusted-token-profiles',
    {
      schema: {
        tags: ['identity'],
        security,
        params: OrgParams,
        response: { 200: Type.Object({ data: Type.Array(TrustedTokenProfile) }), ...errorResponses },
      },
    },
    async (request) => ({ data: await trustedTokens.list(request.params.org) }),
  );
  app.delete(
    '/organizations/:org/trusted-token-profiles/:profile',
    {
      schema: {
        tags: ['identity'],
        security,
        params: Type.Object({ org: OrgParams.properties.org, profile: Type.String({ maxLength: 100 }) }),
      },
    },
    async (request, reply) => {
      await trustedTokens.remove(request.params.org, request.params.profile, auditContextOf(request));
      return reply.code(204).send();
    },
  );
  app.get(
    '/organizations/:org/grants',
    {
      schema: {
        tags: ['grants'],
        security,
        params: OrgParams,
        querystring: Type.Object({ member: Type.Optional(Type.String({ maxLength: 100 })) }),
        response: { 200: GrantList, ...errorResponses },
      },
    },
    async (request) => {
      const org = await organizations.require(request.params.org);
      return { data: await grants.list({ orgId: org.id, ...(request.query.member && { memberId: request.query.member }) }) };
    },
  );
  app.delete(
    '/organizations/:org/grants/:grant',
    {
      schema: {
        tags: ['grants'],
        security,
        params: Type.Object({ org: OrgParams.properties.org, grant: GrantParams.properties.grant }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const org = await organizations.require(request.params.org);
      await grants.revoke(request.params.grant, 'revoked by an administrator', { orgId: org.id }, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
};

/** /v1/sessions: attest a trusted token for a session; a session's own view, refresh, revocation and grants. */
export const sessionRoutes: FastifyPluginAsyncTypebox<{
  sessions: Sessions;
  grants: Grants;
  rateLimit: RateLimit;
}> = async (app, { sessions, grants, rateLimit }) => {
  await app.register(cookie);
  const tags = ['sessions'];
  const authenticated = sessionAuthHook(sessions);
  const current = (request: FastifyRequest): ActiveSession => request.session as ActiveSession;

  app.post(
    '/sessions/attest',
    { config: { rateLimit }, schema: { tags, summary: 'Exchange a trusted token for a session', body: Attest } },
    async (request, reply) =>
      reply
        .code(201)
        .header('cache-control', 'no-store')
        .send(
          await sessions.attest(request.body.organization, request.body.token, auditContextOf(request), {
            ip: request.ip,
            userAgent: request.headers['user-agent'] ?? null,
          }),
        ),
  );
  app.get('/sessions/me', { onRequest: authenticated, schema: { tags, summary: 'The current session and member' } }, async (request) => {
    const session = current(request);
    const member = await sessions.member(session);
    return {
      session: {
        id: session.id,
        org_id: session.orgId,
        member_id: session.memberId,
        amr: session.amr,
        expires_at: session.expiresAt,
        impersonator_id: session.impersonatorId,
      },
      member,
    };
  });
  app.post(
    '/sessions/refresh',
    { schema: { tags, summary: 'A fresh session JWT, for the session token (mnd_st_…) only' } },
    async (request, reply) => {
      const credential = sessionCredential(request);
      if (!credential) throw new MandateError('unauthorized', 'the session token is required', { challenge: bearerChallenge() });
      return reply.header('cache-control', 'no-store').send({ session_jwt: await sessions.refresh(credential) });
    },
  );
  app.get(
    '/sessions',
    {
      onRequest: authenticated,
      schema: { tags, summary: 'My sessions, the current one marked', querystring: SessionListQuery, response: { 200: OwnSessionList } },
    },
    async (request) => {
      const session = current(request);
      const listed = await sessions.list(session.orgId, session.memberId, { includeAll: request.query.include === 'all' });
      return { data: listed.map((view) => ({ ...view, current: view.id === session.id })) };
    },
  );
  app.delete(
    '/sessions/:session',
    { onRequest: authenticated, schema: { tags, summary: 'End one of my sessions', params: Type.Object({ session: SessionId }) } },
    async (request, reply) => {
      const session = current(request);
      await sessions.revokeOf(
        session.orgId,
        session.memberId,
        { sessionId: request.params.session, by: 'member' },
        auditContextOf(request),
      );
      if (request.params.session === session.id) reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send();
    },
  );
  app.post(
    '/sessions/revoke',
    { onRequest: authenticated, schema: { tags, summary: 'End the current session' } },
    async (request, reply) => {
      await sessions.revoke(current(request), auditContextOf(request));
      return reply.clearCookie(SESSION_COOKIE, { path: '/' }).code(204).send();
    },
  );
  app.get(
    '/sessions/me/grants',
    { onRequest: authenticated, schema: { tags, summary: 'The apps and agents this user has authorized', response: { 200: GrantList } } },
    async (request) => {
      const session = current(request);
      return { data: await grants.list({ orgId: session.orgId, memberId: session.memberId }) };
    },
  );
  app.delete(
    '/sessions/me/grants/:grant',
    { onRequest: authenticated, schema: { tags, summary: 'Revoke one of my grants', params: GrantParams } },
    async (request, reply) => {
      const session = current(request);
      await grants.revoke(
        request.params.grant,
        'revoked by the user',
        { orgId: session.orgId, memberId: session.memberId },
        auditContextOf(request),
      );
      return reply.code(204).send();
    },
  );
};
