import type { Challenge, ChallengeParams, MandateError } from '../errors.js';

const PARAM_ORDER: readonly (keyof ChallengeParams)[] = ['realm', 'error', 'error_description', 'resource_metadata'];

/** RFC 9110 §11.6.1: `Bearer realm="mandate", error="invalid_token"`; values as quoted-strings (§5.6.4). */
export function renderChallenge({ scheme, params }: Challenge): string {
  const rendered = PARAM_ORDER.flatMap((name) => {
    const value = params[name];
    return value === undefined ? [] : [`${name}="${value.replace(/["\\]/g, '\\$&')}"`];
  });
  return `${scheme} ${rendered.join(', ')}`;
}

/** The response headers an error asks for: its challenge (RFC 6750 §3) and when to retry (RFC 9110 §10.2.3). */
export function errorHeaders(error: MandateError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (error.challenge) headers['www-authenticate'] = renderChallenge(error.challenge);
  if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds);
  return headers;
}
