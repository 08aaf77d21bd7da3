import { describe, expect, it } from 'vitest';
import { MemoryCounter } from '../counters/memory-counter.js';
import { RuleWindows } from './rule-windows.js';
import { type AgentProfile, AnomalyRules, DEFAULT_RULES, type Finding, networkOf, type ObservedEvent, type RuleName } from './rules.js';

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

/** The rules and their windows, counted in memory as on a single node. */
function detector(rules = new AnomalyRules()): { rules: AnomalyRules; observe(e: ObservedEvent, p?: AgentProfile): Promise<Finding[]> } {
  const windows = new RuleWindows(new MemoryCounter());
  return {
    rules,
    observe: async (e, p = profile) => {
      const { findings, tallies } = rules.observe(e, p);
      return [...findings, ...(await windows.count(tallies))];
    },
  };
}

/** Feeds events one at a time and returns the rules that fired, in order. */
async function run(events: ObservedEvent[], options: { on?: ReturnType<typeof detector>; baseline?: string[] } = {}): Promise<RuleName[]> {
  const on = options.on ?? detector();
  on.rules.seedBaseline(AGENT, options.baseline ?? ['crm']);
  const fired: RuleName[] = [];
  for (const e of events) for (const finding of await on.observe(e)) fired.push(finding.rule);
  return fired;
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
  ])('%s', async (_name, events, fired) => {
    expect(await run(events)).toEqual(fired);
  });

  it('counts a batch at once and still reports the event that crossed the threshold', async () => {
    const rules = new AnomalyRules();
    const windows = new RuleWindows(new MemoryCounter());
    const burst = times(25, (i) => denied(i));
    const tallies = burst.flatMap((e) => rules.observe(e, profile).tallies);
    const findings = await windows.count(tallies);
    expect(findings.map((f) => [f.rule, f.count, f.eventId])).toEqual([['denied_burst', 20, burst[19]?.id]]);
  });

  it('fires again once the window has passed, and keeps agents apart', async () => {
    const on = detector();
    on.rules.seedBaseline('agt_b', ['crm']);
    const burst = (start: number, agent: string) => times(20, (i) => ({ ...denied(start + i), agent_id: agent }));
    expect(await run([...burst(0, AGENT), ...burst(30, AGENT)], { on })).toEqual(['denied_burst']);
    expect(await run(burst(90, AGENT), { on })).toEqual(['denied_burst']);
    expect(
      await run(
        times(19, (i) => ({ ...denied(i), agent_id: 'agt_b' })),
        { on },
      ),
    ).toEqual([]);
  });

  it('a young agent builds its baseline without findings', async () => {
    const on = detector();
    const young = { environment: 'prod', createdAt: new Date(T0 - 3600_000).toISOString() };
    expect(await on.observe(event({ tool: 'payments' }), young)).toEqual([]);
    expect(await on.observe(event({ tool: 'payments' }))).toEqual([]);
    expect((await on.observe(event({ tool: 'warehouse' }))).map((f) => f.rule)).toEqual(['first_tool_use']);
  });

  it('notices a token used from a network the agent was never seen on', async () => {
    const on = detector();
    on.rules.seedBaseline(AGENT, ['crm']);
    on.rules.seedNetworks(AGENT, ['10.1.2.3']);
    expect(await on.observe(event({ client_ip: '10.1.2.77' }))).toEqual([]);
    const [found] = await on.observe(event({ client_ip: '203.0.113.9' }));
    expect(found).toMatchObject({ rule: 'new_network', detail: { network: '203.0.113.0/24', ip: '203.0.113.9' } });
    // Once seen, the network is part of the baseline.
    expect(await on.observe(event({ client_ip: '203.0.113.10' }))).toEqual([]);
    expect((await on.observe(event({ client_ip: '2001:db8:1:2::5' }))).map((f) => f.rule)).toEqual(['new_network']);
    expect(await on.observe(event({ client_ip: '2001:db8:1:ffff::9' }))).toEqual([]);
    // A young agent is still learning where it runs.
    const young = { environment: 'prod', createdAt: new Date(T0 - 3600_000).toISOString() };
    expect(await on.observe(event({ agent_id: 'agt_new', client_ip: '198.51.100.1' }), young)).toEqual([]);
  });

  it.each([
    ['10.1.2.3', '10.1.2.0/24'],
    ['::ffff:10.1.2.3', '10.1.2.0/24'],
    ['2001:db8:1:2::5', '2001:db8:1::/48'],
    ['::1', '0:0:0::/48'],
  ])('puts %s in the network %s', (ip, network) => {
    expect(networkOf(ip)).toBe(network);
  });

  it('reports counts, window and evidence', async () => {
    const on = detector(new AnomalyRules({ ...DEFAULT_RULES, bulk_export: { threshold: 2, windowSeconds: 30 } }));
    await on.observe(event({ seconds: 0, action: 'export' }));
    const [finding] = await on.observe(event({ seconds: 5, action: 'export' }));
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

  it('ignores events of no agent', async () => {
    expect(await detector().observe(event({ agent_id: null, action: 'export' }))).toEqual([]);
  });
});
