import { describe, expect, it } from 'vitest';
import { type LoginMethod, type LoginPaths, lockoutRefusal, loginRefusal } from './login-policy.js';
import type { OrganizationSettings } from './schemas.js';

const none: LoginPaths = { activeSsoConnections: 0, trustedTokenProfiles: 0, breakGlassMembers: 0 };

describe('loginRefusal', () => {
  const cases: [string, OrganizationSettings, LoginMethod, boolean][] = [
    ['no policy allows trusted tokens', {}, 'trusted_token', true],
    ['no policy allows SSO', {}, 'sso', true],
    ['a method list refuses what it omits', { allowed_auth_methods: ['sso'] }, 'trusted_token', false],
    ['a method list allows what it names', { allowed_auth_methods: ['sso', 'trusted_token'] }, 'trusted_token', true],
    ['SSO required allows SSO', { sso_required: true }, 'sso', true],
    ['SSO required refuses trusted tokens', { sso_required: true }, 'trusted_token', false],
    [
      'SSO required refuses trusted tokens even when listed',
      { sso_required: true, allowed_auth_methods: ['trusted_token', 'sso'] },
      'trusted_token',
      false,
    ],
    ['SSO required keeps break-glass open', { sso_required: true, allowed_auth_methods: ['sso'] }, 'break_glass', true],
  ];
  it.each(cases)('%s', (_name, settings, method, allowed) => {
    expect(loginRefusal(settings, method) === null).toBe(allowed);
  });
});

describe('lockoutRefusal', () => {
  it('judges only restricting policies, so a new organization can be set up', () => {
    expect(lockoutRefusal({}, none)).toBeNull();
    expect(lockoutRefusal({ session_ttl_seconds: 3600 }, none)).toBeNull();
  });
  it('refuses SSO required while there is neither an active SSO connection nor a break-glass member', () => {
    expect(lockoutRefusal({ sso_required: true }, none)).toMatch(/no active SSO connection and no break-glass member/);
    expect(lockoutRefusal({ sso_required: true }, { ...none, trustedTokenProfiles: 3 })).not.toBeNull();
  });
  it('accepts SSO required with an active connection or a break-glass member', () => {
    expect(lockoutRefusal({ sso_required: true }, { ...none, activeSsoConnections: 1 })).toBeNull();
    expect(lockoutRefusal({ sso_required: true }, { ...none, breakGlassMembers: 1 })).toBeNull();
  });
  it('refuses a method list of which nothing is set up', () => {
    expect(lockoutRefusal({ allowed_auth_methods: ['sso'] }, { ...none, trustedTokenProfiles: 1 })).toMatch(/allow only sso/);
    expect(lockoutRefusal({ allowed_auth_methods: ['trusted_token'] }, { ...none, trustedTokenProfiles: 1 })).toBeNull();
    expect(lockoutRefusal({ allowed_auth_methods: [] }, { ...none, activeSsoConnections: 1 })).toMatch(/no method/);
  });
});
