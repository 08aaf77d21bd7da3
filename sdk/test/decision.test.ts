import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLASSIFICATIONS, decide, type Permission } from '../src/decision.js';

const request = { tool: 'crm', action: 'export', environment: 'prod', classification: 'confidential' } as const;
const inBounds: Permission = { tool: 'crm', action: 'export', environments: ['prod'], maxClassification: 'confidential' };
const other: Permission = { tool: 'crm', action: 'read' };

describe('decide: user ∩ agent ∩ consent, within environment and classification', () => {
  // Every combination: only the row where everything holds allows.
  const rows: [boolean, boolean, boolean, boolean, boolean][] = [];
  for (const user of [true, false])
    for (const agent of [true, false])
      for (const consented of [true, false])
        for (const envIn of [true, false]) for (const classIn of [true, false]) rows.push([user, agent, consented, envIn, classIn]);

  it.each(rows)(
    'user has %s, agent has %s, consented %s, environment in bounds %s, classification in bounds %s',
    (user, agent, consented, envIn, classIn) => {
      const decision = decide({
        request: { ...request, environment: envIn ? 'prod' : 'dev', classification: classIn ? 'confidential' : 'regulated' },
        user: user ? [other, inBounds] : [other],
        agent: agent ? [inBounds] : [other],
        consentedScopes: consented ? ['crm:export', 'crm.read'] : ['crm.read'],
      });
      const all = user && agent && consented && envIn && classIn;
      expect(decision.effect).toBe(all ? 'allow' : 'deny');
      if (!all) expect(decision.reasons.length).toBeGreaterThan(0);
      if (!user) expect(decision.reasons.join(' ')).toMatch(/user has no permission/);
      if (!agent) expect(decision.reasons.join(' ')).toMatch(/agent has no permission/);
      if (!consented) expect(decision.reasons.join(' ')).toMatch(/did not consent/);
    },
  );

  it('answers approval_required when a matched permission is gated, naming why', () => {
    const decision = decide({
      request,
      user: [inBounds],
      agent: [{ ...inBounds, approvalRequired: true }],
      consentedScopes: ['crm.export'],
    });
    expect(decision.effect).toBe('approval_required');
    expect(decision.matched.agent?.approvalRequired).toBe(true);
  });

  it('an agent acting for itself needs only its own permission; a person acting directly needs only theirs', () => {
    expect(decide({ request, user: null, agent: [inBounds], consentedScopes: null }).effect).toBe('allow');
    expect(decide({ request, user: [inBounds], agent: null, consentedScopes: null }).effect).toBe('allow');
    expect(decide({ request, user: null, agent: null, consentedScopes: null }).effect).toBe('deny');
  });

  it('never allows above a permission’s classification ceiling (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CLASSIFICATIONS), fc.constantFrom(...CLASSIFICATIONS), (ceiling, requested) => {
        const decision = decide({
          request: { ...request, classification: requested },
          user: null,
          agent: [{ tool: 'crm', action: 'export', maxClassification: ceiling }],
          consentedScopes: null,
        });
        expect(decision.effect === 'allow').toBe(CLASSIFICATIONS.indexOf(requested) <= CLASSIFICATIONS.indexOf(ceiling));
      }),
    );
  });
});
