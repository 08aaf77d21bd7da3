/**
 * The authorization decision, as a pure function (docs/architecture.md §3.9): an agent acting for a user
 * may do `tool:action` only if the user's roles allow it AND the agent's roles allow it AND the
 * user consented to it, each within its environment and data-classification bounds. Precomputed
 * permission lists in, a decision with its reasons out; no I/O, so it is table-tested and fast.
 */

export type Environment = 'dev' | 'staging' | 'prod';

/** Data classifications, lowest to highest. */
export const CLASSIFICATIONS = ['public', 'internal', 'confidential', 'regulated'] as const;
export type Classification = (typeof CLASSIFICATIONS)[number];

/** A permission: `tool:action` with optional constraints. */
export interface Permission {
  tool: string;
  action: string;
  /** Environments it applies in; absent: all. */
  environments?: readonly Environment[];
  /** The most sensitive data it may touch; absent: any. */
  maxClassification?: Classification;
  /** Allowed only after a person approves (human-in-the-loop). */
  approvalRequired?: boolean;
  /** Attribute limits ("billing fields only"), carried into the decision for the tool to enforce. */
  constraints?: Readonly<Record<string, unknown>>;
}

export interface DecisionRequest {
  tool: string;
  action: string;
  environment: Environment;
  classification: Classification;
}

export interface DecisionInput {
  request: DecisionRequest;
  /** The user's permissions; `null` when no user is involved (an agent acting for itself). */
  user: readonly Permission[] | null;
  /** The agent's permissions; `null` when a person acts directly. */
  agent: readonly Permission[] | null;
  /** Scopes the user consented to (the token's); `null` when no delegation is involved. */
  consentedScopes: readonly string[] | null;
}

export type Effect = 'allow' | 'deny' | 'approval_required';

export interface Decision {
  effect: Effect;
  /** Why, in order: every failed check for a deny, the approval reason for approval_required. */
  reasons: string[];
  /** The permissions that matched, per principal. */
  matched: { user?: Permission; agent?: Permission };
}

function rank(classification: Classification): number {
  return CLASSIFICATIONS.indexOf(classification);
}

/** Whether a permission covers the request: same tool and action, environment and classification in bounds. */
export function permits(permission: Permission, request: DecisionRequest): boolean {
  if (permission.tool !== request.tool || permission.action !== request.action) return false;
  if (permission.environments && !permission.environments.includes(request.environment)) return false;
  if (permission.maxClassification && rank(request.classification) > rank(permission.maxClassification)) return false;
  return true;
}

/**
 * Whether a consented scope covers `tool:action`. A scope names a permission as `tool:action`
 * or `tool.action` (the resource-scope spelling, e.g. `calendar.read`).
 */
export function scopeCovers(scope: string, tool: string, action: string): boolean {
  return scope === `${tool}:${action}` || scope === `${tool}.${action}`;
}

export function decide(input: DecisionInput): Decision {
  const { request } = input;
  const what = `${request.tool}:${request.action} in ${request.environment} at ${request.classification}`;
  const reasons: string[] = [];
  const matched: Decision['matched'] = {};
  for (const principal of ['user', 'agent'] as const) {
    const permissions = input[principal];
    if (permissions === null) continue;
    const hit = permissions.find((p) => permits(p, request));
    if (hit) matched[principal] = hit;
    else reasons.push(`the ${principal} has no permission for ${what}`);
  }
  if (input.consentedScopes !== null && !input.consentedScopes.some((s) => scopeCovers(s, request.tool, request.action))) {
    reasons.push(`the user did not consent to ${request.tool}:${request.action}`);
  }
  if (input.user === null && input.agent === null) reasons.push('no principal to authorize');
  if (reasons.length > 0) return { effect: 'deny', reasons, matched };
  const gated = [matched.user, matched.agent].filter((p): p is Permission => p?.approvalRequired === true);
  if (gated.length > 0)
    return { effect: 'approval_required', reasons: [`${request.tool}:${request.action} requires a person's approval`], matched };
  return { effect: 'allow', reasons: [], matched };
}
