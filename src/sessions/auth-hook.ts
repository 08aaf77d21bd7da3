import type { FastifyRequest } from 'fastify';
import { bearerChallenge, MandateError } from '../errors.js';
import { SESSION_COOKIE } from '../http/session-cookie.js';
import { type ActiveSession, assertNotImpersonating, type Sessions } from './sessions.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The human session that authenticated this request. */
    session?: ActiveSession;
  }
}

/** The credential of a session request: a bearer session token or session JWT, else the hosted-page cookie. */
export function sessionCredential(request: FastifyRequest): string | undefined {
  const bearer = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
  return bearer ?? request.cookies?.[SESSION_COOKIE];
}

/** An onRequest hook that requires a human session (bearer session token or JWT, or the cookie). */
export function sessionAuthHook(sessions: Sessions, options: { personal?: string } = {}): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    const credential = sessionCredential(request);
    if (!credential) throw new MandateError('unauthorized', 'a session is required', { challenge: bearerChallenge() });
    request.session = await sessions.authenticate(credential);
    // `personal`: what these routes do, which an impersonation session may not (sessions.ts).
    if (options.personal) assertNotImpersonating(request.session, options.personal);
  };
}
