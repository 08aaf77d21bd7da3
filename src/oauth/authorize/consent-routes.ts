import cookie from '@fastify/cookie';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { MandateError } from '../../errors.js';
import { auditContextOf } from '../../http/request-context.js';
import { sessionAuthHook } from '../../sessions/auth-hook.js';
import type { ActiveSession, Sessions } from '../../sessions/sessions.js';
import type { Authorizations } from './authorizations.js';
import { AuthorizationPageError } from './errors.js';

/** /v1/consent/requests: headless consent, for teams that draw their own consent UI: what to show, then the answer. */
export const consentRoutes: FastifyPluginAsyncTypebox<{ sessions: Sessions; authorizations: Authorizations }> = async (
  app,
  { sessions, authorizations },
) => {
  await app.register(cookie);
  // The headless consent API answers JSON where the hosted flow renders a page.
  app.setErrorHandler((error) => {
    if (error instanceof AuthorizationPageError) {
      const code = error.status === 403 ? 'forbidden' : error.status === 401 ? 'unauthorized' : 'invalid_request';
      throw new MandateError(code, error.description);
    }
    throw error;
  });
  const consenting = sessionAuthHook(sessions, { personal: 'give consent' });
  const current = (request: FastifyRequest): ActiveSession => request.session as ActiveSession;
  const ConsentParams = Type.Object({ request: Type.String({ pattern: '^azr_[0-9a-z]{26}$' }) });
  app.get(
    '/consent/requests/:request',
    { onRequest: consenting, schema: { tags: ['consent'], summary: 'What a consent screen must show', params: ConsentParams } },
    async (request, reply) =>
      reply.header('cache-control', 'no-store').send(await authorizations.consentPrompt(request.params.request, current(request))),
  );
  app.post(
    '/consent/requests/:request',
    {
      onRequest: consenting,
      schema: {
        tags: ['consent'],
        summary: 'The user’s answer; returns where to send the browser',
        params: ConsentParams,
        body: Type.Object(
          { decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]), csrf_token: Type.String({ maxLength: 200 }) },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const next = await authorizations.decide(
        request.params.request,
        current(request),
        { csrfToken: request.body.csrf_token, allow: request.body.decision === 'allow' },
        auditContextOf(request),
      );
      return { redirect_to: next.location };
    },
  );
};
