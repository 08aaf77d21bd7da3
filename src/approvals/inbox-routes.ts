import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { MandateError } from '../errors.js';
import { auditContextOf } from '../http/request-context.js';
import { statusOf } from '../http/status.js';
import { sessionAuthHook } from '../sessions/auth-hook.js';
import type { ActiveSession, Sessions } from '../sessions/sessions.js';
import { pageSecurityHeaders } from '../ui/html.js';
import type { Approvals } from './approvals.js';
import { decisionNotice, type InboxNotice, renderInboxErrorPage, renderInboxPage, renderSignInPage } from './inbox-page.js';

export interface ApprovalsInboxOptions {
  approvals: Approvals;
  sessions: Sessions;
  /**
   * Key of the session-bound CSRF tokens; default: random per process. Nodes behind one load
   * balancer must share it, or a form rendered by one node is refused by another.
   */
  csrfKey?: Buffer | undefined;
}

/** A CSRF token bound to one session: HMAC-SHA256 of its id, so it needs no storage and no other session can use it. */
function csrfTokenFor(key: Buffer, session: ActiveSession): string {
  return createHmac('sha256', key).update(`approvals-inbox ${session.id}`, 'utf8').digest('base64url');
}

function csrfMatches(key: Buffer, session: ActiveSession, presented: string | undefined): boolean {
  if (!presented) return false;
  const expected = Buffer.from(csrfTokenFor(key, session), 'utf8');
  const given = Buffer.from(presented, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function sendPage(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).headers(pageSecurityHeaders()).send(body);
}

const IdParams = Type.Object({ id: Type.String({ pattern: '^apr_[0-9a-z]{26}$' }) });
const DecisionBody = Type.Object({
  csrf_token: Type.Optional(Type.String({ maxLength: 200 })),
  decision: Type.Optional(Type.String({ maxLength: 20 })),
});

/**
 * The hosted approvals inbox (GET /approvals, POST /approvals/:id): the pending CIBA requests the
 * member of the `mandate_session` cookie may decide, rendered without scripts, decided by a form
 * carrying a session-bound CSRF token.
 */
export const approvalsInboxRoutes: FastifyPluginAsyncTypebox<ApprovalsInboxOptions> = async (app, options) => {
  const { approvals, sessions } = options;
  const csrfKey = options.csrfKey ?? randomBytes(32);
  await app.register(cookie);
  await app.register(formbody, { bodyLimit: 8192 });
  const onRequest = sessionAuthHook(sessions, { personal: 'decide approvals' });
  const current = (request: FastifyRequest): ActiveSession => request.session as ActiveSession;
  const schema = { hide: true, tags: ['approvals'] };

  const inbox = async (reply: FastifyReply, session: ActiveSession, status: number, notice?: InboxNotice) =>
    sendPage(
      reply,
      status,
      renderInboxPage({ requests: await approvals.pending(session), csrfToken: csrfTokenFor(csrfKey, session), notice }),
    );

  // Pages, not JSON: a person reads these errors.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof MandateError && error.code === 'unauthorized') return sendPage(reply, 401, renderSignInPage());
    if (error instanceof MandateError) return sendPage(reply, statusOf(error.code), renderInboxErrorPage('Approvals', error.description));
    if (error.validation || (error.statusCode !== undefined && error.statusCode < 500))
      return sendPage(reply, error.statusCode ?? 400, renderInboxErrorPage('Invalid request', 'This request was not understood.'));
    request.log.error({ err: error }, 'approvals inbox failed');
    return sendPage(reply, 500, renderInboxErrorPage('Something went wrong', `Try again. Reference: ${request.id}`));
  });

  app.get('/approvals', { onRequest, schema: { ...schema, summary: 'Hosted approvals inbox' } }, async (request, reply) =>
    inbox(reply, current(request), 200),
  );

  app.post(
    '/approvals/:id',
    { onRequest, schema: { ...schema, summary: 'Approve or deny a request from the inbox', params: IdParams, body: DecisionBody } },
    async (request, reply) => {
      const session = current(request);
      const { csrf_token: csrfToken, decision } = request.body ?? {};
      if (!csrfMatches(csrfKey, session, csrfToken))
        return inbox(reply, session, 403, {
          kind: 'refused',
          message: 'The form was out of date or did not come from this page. Nothing was changed; check the request and answer again.',
        });
      if (decision !== 'approve' && decision !== 'deny')
        return inbox(reply, session, 400, { kind: 'refused', message: 'Choose Approve or Deny.' });
      try {
        const decided = await approvals.decide(session, request.params.id, decision, auditContextOf(request));
        return inbox(reply, session, 200, decisionNotice(decision, decided));
      } catch (error) {
        // Separation of duties (403), already decided or expired (409), unknown (404): say why, on the inbox.
        if (!(error instanceof MandateError) || error.code === 'unauthorized') throw error;
        return inbox(reply, session, statusOf(error.code), { kind: 'refused', message: sentence(error.description) });
      }
    },
  );
};

function sentence(description: string): string {
  const text = description.charAt(0).toUpperCase() + description.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
