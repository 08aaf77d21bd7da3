import cookie from '@fastify/cookie';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { RateLimit } from '../http/rate-limit.js';
import { auditContextOf } from '../http/request-context.js';
import { sessionAuthHook } from '../sessions/auth-hook.js';
import type { ActiveSession, Sessions } from '../sessions/sessions.js';
import type { Impersonation } from './impersonation.js';

const IssuedToken = Type.Object({
  token: Type.String({ description: 'Single-use mnd_imp_ token; exchange it at /v1/impersonation/authenticate within a minute.' }),
  token_id: Type.String(),
  member_id: Type.String(),
  expires_at: Type.String(),
});

/**
 * /v1/impersonation: a member with `mandate.members:impersonate` asks for a token from their own
 * session; the token, exchanged once, starts a short session as the other member.
 */
export const impersonationRoutes: FastifyPluginAsyncTypebox<{
  impersonation: Impersonation;
  sessions: Sessions;
  rateLimit: RateLimit;
}> = async (app, { impersonation, sessions, rateLimit }) => {
  await app.register(cookie);
  const tags = ['impersonation'];
  app.post(
    '/impersonation/tokens',
    {
      onRequest: sessionAuthHook(sessions),
      schema: {
        tags,
        summary: 'A single-use token to act as another member of my organization',
        body: Type.Object(
          {
            member_id: Type.String({ minLength: 1, maxLength: 100 }),
            reason: Type.String({ minLength: 3, maxLength: 500, description: 'Why: recorded in the audit trail (e.g. a ticket).' }),
          },
          { additionalProperties: false },
        ),
        response: { 201: IssuedToken },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .header('cache-control', 'no-store')
        .send(await impersonation.createToken(request.session as ActiveSession, request.body, auditContextOf(request))),
  );
  app.post(
    '/impersonation/authenticate',
    {
      config: { rateLimit },
      schema: {
        tags,
        summary: 'Exchange an impersonation token for an impersonation session',
        body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 8192 }) }, { additionalProperties: false }),
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .header('cache-control', 'no-store')
        .send(
          await impersonation.authenticate(request.body.token, auditContextOf(request), {
            ip: request.ip,
            userAgent: request.headers['user-agent'] ?? null,
          }),
        ),
  );
};
