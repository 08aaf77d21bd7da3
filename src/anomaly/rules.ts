/**
 * Anomaly rules over the audit stream, as data. Pure: no clock but the events' own timestamps,
 * no I/O. The windowed rules come out as tallies that rule-windows.ts counts (across nodes when
 * there are several, docs/architecture.md §12); detector.ts feeds it the events this node
 * appends and acts on what it finds.
 */

export type RuleName = 'rate_spike' | 'denied_burst' | 'bulk_export' | 'first_tool_use' | 'outside_environment' | 'new_network';

export const RULE_NAMES: readonly RuleName[] = [
  'rate_spike',
  'denied_burst',
  'bulk_export',
  'first_tool_use',
  'outside_environment',
  'new_network',
];

export interface RuleSettings {
  /** More than `max` events of activity by one agent within `windowSeconds`. */
  rate_spike: { max: number; windowSeconds: number };
  /** At least `threshold` refusals (denied decisions, refused tokens, insufficient_scope) within `windowSeconds`. */
  denied_burst: { threshold: number; windowSeconds: number };
  /** At least `threshold` `export` actions (decisions, or tool intents) within `windowSeconds`. */
  bulk_export: { threshold: number; windowSeconds: number };
  /**
   * A tool the agent never used before. An agent younger than `learningSeconds` is still building
   * its baseline, so a new agent's first days raise nothing.
   */
  first_tool_use: { learningSeconds: number };
  /** A decision asked for an environment other than the agent's own; once per `windowSeconds`. */
  outside_environment: { windowSeconds: number };
  /**
   * The agent's token or credential used from a network it was never seen on (IPv4 /24, IPv6 /48),
   * once it is past `learningSeconds` (its baseline).
   */
  new_network: { learningSeconds: number };
}

export const DEFAULT_RULES: RuleSettings = {
  rate_spike: { max: 300, windowSeconds: 10 },
  denied_burst: { threshold: 20, windowSeconds: 60 },
  bulk_export: { threshold: 5, windowSeconds: 60 },
  first_tool_use: { learningSeconds: 86_400 },
  outside_environment: { windowSeconds: 60 },
  new_network: { learningSeconds: 86_400 },
};

/** The network an address belongs to, as the new_network rule compares them: IPv4 /24, IPv6 /48. */
export function networkOf(ip: string): string {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.\d+$/i.exec(ip);
  if (v4) return `${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
  const groups = ip.toLowerCase().split('::');
  const head = (groups[0] ?? '').split(':').filter(Boolean);
  const tail = groups.length > 1 ? (groups[1] ?? '').split(':').filter(Boolean) : [];
  const full = [...head, ...Array(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail];
  return `${full
    .slice(0, 3)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/48`;
}

/** The fields of an audit event the rules read (audit_events columns, detail parsed). */
export interface ObservedEvent {
  id: string;
  at: string;
  kind: string;
  org_id: string | null;
  agent_id: string | null;
  tool: string | null;
  action: string | null;
  result: 'success' | 'failure';
  error_code: string | null;
  /** Where the request that wrote it came from, when known. */
  client_ip?: string | null;
  detail: Record<string, unknown>;
}

/** What the rules know of the agent: its environment and when it was registered. */
export interface AgentProfile {
  environment: string;
  createdAt: string;
}

export interface Finding {
  rule: RuleName;
  orgId: string;
  agentId: string;
  /** Events counted in the window (1 for first_tool_use and outside_environment). */
  count: number;
  /** The limit crossed, for the rules that count. */
  threshold: number | null;
  windowSeconds: number | null;
  /** When the window's first counted event happened, and the event that tipped it. */
  since: string;
  at: string;
  eventId: string;
  tool: string | null;
  /** first_tool_use: the tool; outside_environment: the environment asked for. */
  detail: Record<string, unknown>;
}

/** Kinds that are an agent acting: what a rate spike counts, and all the rules read. */
export const OBSERVED_KINDS: ReadonlySet<string> = new Set([
  'decision',
  'tool.intent',
  'tool.outcome',
  'token.issued',
  'token.exchanged',
  'token.refused',
  'token.exchange_refused',
  'vault.accessed',
]);

/** A refusal: a decision that denied, a token refused, a tool that answered insufficient_scope. */
export function isRefusal(event: ObservedEvent): boolean {
  if (event.kind === 'decision') return event.detail.effect === 'deny';
  if (event.kind === 'token.refused' || event.kind === 'token.exchange_refused') return true;
  return event.kind === 'tool.outcome' && event.error_code === 'insufficient_scope';
}

/**
 * One windowed rule's count for one event: the detector adds a batch's tallies to the node's
 * counter (rule-windows.ts), which counts across nodes when there are several
 * (docs/architecture.md §12), and a finding comes out when a count crosses its threshold.
 */
export interface Tally {
  rule: RuleName;
  /** The counter's key: rule, agent and what the rule counts apart. */
  key: string;
  /** The limit, or null for a rule that fires on its first event (once per window). */
  threshold: number | null;
  /** Whether the count so far, this event included, crosses the threshold. */
  fires: (count: number) => boolean;
  windowSeconds: number;
  /** The event's time (epoch ms). */
  t: number;
  event: Pick<Finding, 'orgId' | 'agentId' | 'at' | 'eventId' | 'tool'>;
  detail: Record<string, unknown>;
}

/** What one event leads to: findings at once (baselines), and counts for the windowed rules. */
export interface Observation {
  findings: Finding[];
  tallies: Tally[];
}

/**
 * Evaluates the rules event by event. The baselines (first_tool_use, new_network) are this
 * node's, in memory; the windowed rules return tallies, which fire once per agent per rule per
 * window, so a burst raises one finding, not one per event.
 */
export class AnomalyRules {
  /** Tools each agent has used: the baseline first_tool_use compares against. */
  private readonly tools = new Map<string, Set<string>>();
  /** Networks each agent was seen on: the baseline new_network compares against. */
  private readonly networks = new Map<string, Set<string>>();

  constructor(private readonly settings: RuleSettings = DEFAULT_RULES) {}

  /** Adds tools the agent is known to have used (seeded from the audit trail at start). */
  seedBaseline(agentId: string, tools: Iterable<string>): void {
    const known = this.tools.get(agentId) ?? new Set<string>();
    for (const tool of tools) known.add(tool);
    this.tools.set(agentId, known);
  }

  /** Adds addresses the agent is known to have used (seeded from the audit trail at start). */
  seedNetworks(agentId: string, ips: Iterable<string>): void {
    const known = this.networks.get(agentId) ?? new Set<string>();
    for (const ip of ips) known.add(networkOf(ip));
    this.networks.set(agentId, known);
  }

  observe(event: ObservedEvent, profile: AgentProfile | undefined): Observation {
    const agentId = event.agent_id;
    const orgId = event.org_id;
    const findings: Finding[] = [];
    const tallies: Tally[] = [];
    if (!agentId || !orgId) return { findings, tallies };
    const t = Date.parse(event.at);
    const base = { orgId, agentId, at: event.at, eventId: event.id };
    const counted = (
      rule: RuleName,
      key: string,
      threshold: number | null,
      windowSeconds: number,
      fires: (n: number) => boolean,
      detail: Record<string, unknown> = {},
    ) => {
      tallies.push({
        rule,
        key: `${rule}|${agentId}|${key}`,
        threshold,
        fires,
        windowSeconds,
        t,
        event: { ...base, tool: event.tool },
        detail,
      });
    };

    if (OBSERVED_KINDS.has(event.kind)) {
      const { max, windowSeconds } = this.settings.rate_spike;
      counted('rate_spike', '', max, windowSeconds, (n) => n > max);
    }
    if (isRefusal(event)) {
      const { threshold, windowSeconds } = this.settings.denied_burst;
      counted('denied_burst', '', threshold, windowSeconds, (n) => n >= threshold);
    }
    // A decision and the tool intent that follows it are one export: count each kind on its own.
    if (event.action === 'export' && (event.kind === 'decision' || event.kind === 'tool.intent')) {
      const { threshold, windowSeconds } = this.settings.bulk_export;
      counted('bulk_export', event.kind, threshold, windowSeconds, (n) => n >= threshold);
    }
    if (event.tool && (event.kind === 'decision' || event.kind === 'tool.intent')) {
      const known = this.tools.get(agentId) ?? new Set<string>();
      this.tools.set(agentId, known);
      if (!known.has(event.tool)) {
        known.add(event.tool);
        const learning = this.settings.first_tool_use.learningSeconds * 1000;
        if (profile && t - Date.parse(profile.createdAt) >= learning) {
          findings.push({
            ...base,
            rule: 'first_tool_use',
            count: 1,
            threshold: null,
            windowSeconds: null,
            since: event.at,
            tool: event.tool,
            detail: { tool: event.tool },
          });
        }
      }
    }
    if (event.client_ip && OBSERVED_KINDS.has(event.kind)) {
      const network = networkOf(event.client_ip);
      const known = this.networks.get(agentId) ?? new Set<string>();
      this.networks.set(agentId, known);
      if (!known.has(network)) {
        known.add(network);
        const learning = this.settings.new_network.learningSeconds * 1000;
        if (profile && t - Date.parse(profile.createdAt) >= learning) {
          findings.push({
            ...base,
            rule: 'new_network',
            count: 1,
            threshold: null,
            windowSeconds: null,
            since: event.at,
            tool: event.tool,
            detail: { network, ip: event.client_ip },
          });
        }
      }
    }
    const environment = event.detail.environment;
    if (event.kind === 'decision' && profile && typeof environment === 'string' && environment !== profile.environment) {
      const { windowSeconds } = this.settings.outside_environment;
      counted('outside_environment', '', null, windowSeconds, () => true, { environment, agent_environment: profile.environment });
    }
    return { findings, tallies };
  }
}
