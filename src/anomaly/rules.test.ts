import { describe, expect, it } from 'vitest';
import { AnomalyRules, DEFAULT_RULES, networkOf, type ObservedEvent, type RuleName } from './rules.js';

const T0 = Date.parse('2026-11-17T09:00:00.000Z');
const AGENT = 'agt_a';
const profile = { environment: 'prod', createdAt: '2026-11-01T00:00:00.000Z' };
let seq = 0;

function event(overrides: Partial<ObservedEvent> & { seconds?: number } = {}): ObservedEvent {
  const { seconds = 0, ...rest } = overrides;
  seq += 1;
  return {
    id: `evt_${seq}`,
    at: new Date(T0 + seconds * 1000).toISOString(),
    kind: 'decision',
    org_id: 'org_a',
    agent_id: AGENT,
    tool: 'crm',
    action: 'read',
    result: 'success',
    error_code: null,
    detail: { effect: 'allow', environment: 'prod' },
    ...rest,
  };
}

/** Feeds events and returns the rules that fired, in order. */
function run(events: ObservedEvent[], options: { rules?: AnomalyRules; baseline?: string[] } = {}): RuleName[] {
  const rules = options.rules ?? new AnomalyRules();
  rules.seedBaseline(AGENT, options.baseline ?? ['crm']);
  return events.flatMap((e) => rules.observe(e, profile).map((f) => f.rule));
}

const times = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));
const denied = (seconds = 0) => event({ seconds, result: 'failure', detail: { effect: 'deny', environment: 'prod' } });

describe('anomaly rules', () => {
  it.each<[string, ObservedEvent[], RuleName[]]>([
    ['500 calls in 10 s: one rate spike, not one per call', times(500, (i) => event({ seconds: (i / 500) * 10 })), ['rate_spike']],
    ['300 calls in 10 s: at the limit, nothing', times(300, (i) => event({ seconds: (i / 300) * 9.9 })), []],
    ['400 calls spread over 40 s: no spike', times(400, (i) => event({ seconds: i / 10 })), []],
    ['20 denied decisions in a minute', times(20, (i) => denied(i * 2)), ['denied_burst']],
    ['19 denied decisions in a minute: nothing', times(19, (i) => denied(i * 2)), []],
    ['20 denied decisions over five minutes: nothing', times(20, (i) => denied(i * 15)), []],
    ['approval_required is not a refusal', times(25, () => event({ result: 'failure', detail: { effect: 'approval_required' } })), []],
    [
      'refused tokens and insufficient_scope count as probing',
      [
        ...times(10, () => event({ kind: 'token.refused', tool: null, action: null, result: 'failure', detail: {} })),
        ...times(10, () => event({ kind: 'tool.outcome', result: 'failure', error_code: 'insufficient_scope', detail: {} })),
      ],
      ['denied_burst'],
    ],
    [
      'tool outcomes failing for other reasons are not probing',
      times(25, () => event({ kind: 'tool.outcome', result: 'failure', error_code: 'timeout', detail: {} })),
      [],
    ],
    ['5 exports in a minute', times(5, (i) => event({ seconds: i, action: 'export' })), ['bulk_export']],
    ['4 exports in a minute: nothing', times(4, (i) => event({ seconds: i, action: 'export' })), []],
    [
      'a decision and its intent are one export each, not two',
      times(3, (i) => [
        event({ seconds: i, action: 'export' }),
        event({ seconds: i, kind: 'tool.intent', action: 'export', detail: {} }),
      ]).flat(),
      [],
    ],
    ['a tool outside the baseline', [event({ tool: 'payments' }), event({ tool: 'payments' })], ['first_tool_use']],
    [
      'a decision for another environment, once per minute',
      times(3, (i) => event({ seconds: i, detail: { effect: 'allow', environment: 'dev' } })),
      ['outside_environment'],
    ],
  ])('%s', (_name, events, fired) => {
    expect(run(events)).toEqual(fired);
  });

  it('fires again once the window has passed, and keeps agents apart', () => {
    const rules = new AnomalyRules();
    rules.seedBaseline('agt_b', ['crm']);
    const burst = (start: number, agent: string) => times(20, (i) => ({ ...denied(start + i), agent_id: agent }));
    expect(run([...burst(0, AGENT), ...burst(30, AGENT)], { rules })).toEqual(['denied_burst']);
    expect(run(burst(90, AGENT), { rules })).toEqual(['denied_burst']);
    expect(
      run(
        times(19, (i) => ({ ...denied(i), agent_id: 'agt_b' })),
        { rules },
      ),
    ).toEqual([]);
  });

  it('a young agent builds its baseline without findings', () => {
    const rules = new AnomalyRules();
    const young = { environment: 'prod', createdAt: new Date(T0 - 3600_000).toISOString() };
    expect(rules.observe(event({ tool: 'payments' }), young)).toEqual([]);
    expect(rules.observe(event({ tool: 'payments' }), profile)).toEqual([]);
    expect(rules.observe(event({ tool: 'warehouse' }), profile).map((f) => f.rule)).toEqual(['first_tool_use']);
  });

  it('notices a token used from a network the agent was never seen on', () => {
    const rules = new AnomalyRules();
    rules.seedBaseline(AGENT, ['crm']);
    rules.seedNetworks(AGENT, ['10.1.2.3']);
    expect(rules.observe(event({ client_ip: '10.1.2.77' }), profile)).toEqual([]);
    const [found] = rules.observe(event({ client_ip: '203.0.113.9' }), profile);
    expect(found).toMatchObject({ rule: 'new_network', detail: { network: '203.0.113.0/24', ip: '203.0.113.9' } });
    // Once seen, the network is part of the baseline.
    expect(rules.observe(event({ client_ip: '203.0.113.10' }), profile)).toEqual([]);
    expect(rules.observe(event({ client_ip: '2001:db8:1:2::5' }), profile).map((f) => f.rule)).toEqual(['new_network']);
    expect(rules.observe(event({ client_ip: '2001:db8:1:ffff::9' }), profile)).toEqual([]);
    // A young agent is still learning where it runs.
    const young = { environment: 'prod', createdAt: new Date(T0 - 3600_000).toISOString() };
    expect(rules.observe(event({ agent_id: 'agt_new', client_ip: '198.51.100.1' }), young)).toEqual([]);
  });

  it.each([
    ['10.1.2.3', '10.1.2.0/24'],
    ['::ffff:10.1.2.3', '10.1.2.0/24'],
    ['2001:db8:1:2::5', '2001:db8:1::/48'],
    ['::1', '0:0:0::/48'],
  ])('puts %s in the network %s', (ip, network) => {
    expect(networkOf(ip)).toBe(network);
  });

  it('reports counts, window and evidence', () => {
    const rules = new AnomalyRules({ ...DEFAULT_RULES, bulk_export: { threshold: 2, windowSeconds: 30 } });
    rules.observe(event({ seconds: 0, action: 'export' }), profile);
    const [finding] = rules.observe(event({ seconds: 5, action: 'export' }), profile);
    expect(finding).toMatchObject({
      rule: 'bulk_export',
      orgId: 'org_a',
      agentId: AGENT,
      count: 2,
      threshold: 2,
      windowSeconds: 30,
      since: '2026-11-17T09:00:00.000Z',
      at: '2026-11-17T09:00:05.000Z',
    });
  });

  it('ignores events of no agent', () => {
    expect(new AnomalyRules().observe(event({ agent_id: null, action: 'export' }), profile)).toEqual([]);
  });
});
