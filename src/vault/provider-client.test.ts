import { describe, expect, it } from 'vitest';
import { grantIsGone, ProviderRefusedError, ProviderUnavailableError } from './provider-client.js';

describe('which provider answers end a connected account', () => {
  it.each([
    ['invalid_grant', true],
    ['bad_refresh_token', true],
    ['BAD_REFRESH_TOKEN', true],
    ['token_revoked', true],
    // A rotated app secret, an outage or a rate limit must not wipe every user's account.
    ['invalid_client', false],
    ['temporarily_unavailable', false],
    ['server_error', false],
    ['ratelimited', false],
    ['invalid_request', false],
  ])('%s → gone: %s', (code, gone) => {
    expect(grantIsGone(new ProviderRefusedError(code, 'x'))).toBe(gone);
  });

  it('never treats an unreachable provider as a refusal', () => {
    expect(grantIsGone(new ProviderUnavailableError('no answer'))).toBe(false);
    expect(grantIsGone(new Error('invalid_grant'))).toBe(false);
  });
});
