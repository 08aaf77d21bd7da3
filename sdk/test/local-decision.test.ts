import { describe, expect, it } from 'vitest';
import type { MandateTokenClaims } from '../src/claims.js';
import { decideFromClaims } from '../src/local-decision.js';

const base: MandateTokenClaims = {
  iss: 'https://auth.example',
  sub: 'mbr_01',
  aud: 'https://api.example',
  exp: 2_000_000_000,
  iat: 1_900_000_000,
  jti: 'j',
  client_id: 'cli_01',
  scope: 'crm.read',
  org_id: 'org_01',
};
const request = { tool: 'crm', action: 'read', environment: 'prod', classification: 'internal' } as const;
const read = [{ tool: 'crm', action: 'read' }];

describe('decideFromClaims (the server’s decision, in-process)', () => {
  it('bounds a delegated agent token by user ∩ agent ∩ consented scope', () => {
    const delegated = { ...base, agent_id: 'agt_01', auth_event_id: 'grt_01' };
    expect(decideFromClaims(delegated, request, { user: read, agent: read }).effect).toBe('allow');
    expect(
      decideFromClaims(
        delegated,
        { ...request, action: 'write' },
        { user: [{ tool: 'crm', action: 'write' }], agent: [{ tool: 'crm', action: 'write' }] },
      ).effect,
    ).toBe('deny');
    expect(decideFromClaims(delegated, request, { user: read }).effect).toBe('deny');
  });

  it('treats an agent’s own token as the agent alone, and fails closed without permissions', () => {
    const own = { ...base, sub: 'agt_01', agent_id: 'agt_01' };
    expect(decideFromClaims(own, request, { agent: read }).effect).toBe('allow');
    expect(decideFromClaims(own, request, {}).effect).toBe('deny');
  });
});
