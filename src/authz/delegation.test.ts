import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Permission } from './decision.js';
import { delegatedScope, delegationDepth, scopePermission } from './delegation.js';

const perms = (...scopes: string[]): Permission[] =>
  scopes.map((s) => {
    const p = scopePermission(s);
    if (!p) throw new Error(s);
    return p;
  });

describe('delegated scope (RFC 8693 exchange, only ever narrowing)', () => {
  it('keeps what both the user and the agent may do, within the subject token', () => {
    const result = delegatedScope({
      requested: [],
      subject: ['crm.read', 'crm.write', 'email.send'],
      user: perms('crm.read', 'crm.write'),
      agent: perms('crm.read', 'email.send'),
    });
    expect(result).toEqual({ ok: true, scopes: ['crm.read'] });
  });

  it.each([
    [{ requested: ['crm.export'], subject: ['crm.read'] }, /exceeds the subject token/],
    [{ requested: ['crm.write'], subject: ['crm.read', 'crm.write'] }, /agent has no permission/],
  ])('refuses %j', (partial, reason) => {
    const result = delegatedScope({ ...partial, user: perms('crm.read', 'crm.write', 'crm.export'), agent: perms('crm.read') });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('measures actor chains', () => {
    expect(delegationDepth(undefined)).toBe(0);
    expect(delegationDepth({ sub: 'agt_a', act: { sub: 'agt_b' } })).toBe(2);
  });

  it('at every depth of a chain of agents, the scope is a subset of every input (property)', () => {
    const all = ['a.read', 'a.write', 'b.read', 'b.write', 'c.export'];
    const subset = fc.subarray(all);
    fc.assert(
      fc.property(subset, fc.array(fc.tuple(subset, subset, subset), { minLength: 1, maxLength: 5 }), (initial, links) => {
        let current = initial;
        for (const [requested, userHas, agentHas] of links) {
          const result = delegatedScope({ requested, subject: current, user: perms(...userHas), agent: perms(...agentHas) });
          if (!result.ok) return;
          for (const scope of result.scopes) {
            expect(current).toContain(scope);
            expect(userHas).toContain(scope);
            expect(agentHas).toContain(scope);
            if (requested.length > 0) expect(requested).toContain(scope);
          }
          current = result.scopes;
        }
      }),
    );
  });
});
