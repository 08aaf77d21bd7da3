import type { FastifyReply } from 'fastify';

/** The hosted pages' session cookie: it carries the opaque `mnd_st_` session token. */
export const SESSION_COOKIE = 'mandate_session';

/**
 * Sets the session cookie after a login (trusted token, SSO, break-glass), the same way for
 * every method: HttpOnly, whole site, SameSite=Lax (a top-level return from an IdP carries it),
 * expiring with the session.
 */
export function setSessionCookie(
  reply: FastifyReply,
  issued: { session_token: string; expires_at: string },
  secure: boolean,
): FastifyReply {
  return reply.setCookie(SESSION_COOKIE, issued.session_token, {
    path: '/',
    httpOnly: true,
    secure,
    sameSite: 'lax',
    expires: new Date(issued.expires_at),
  });
}
