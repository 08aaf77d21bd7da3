/**
 * Who may approve an action, as data (pure; docs/architecture.md §3.9). An organization sets a policy per
 * authorization details type; a request carries the combination of its details' policies.
 */
export interface ApprovalPolicy {
  /** `user`: the user the agent acts for approves; `role`: members holding `approve` on `tools`. */
  approvers: 'user' | 'role';
  /** With `role`: an approver needs `approve` on every one of these tools. */
  tools: string[];
  /** Distinct approvals needed (N of M); a single denial denies. */
  required: number;
  /** The user the agent acts for may not approve (separation of duties). */
  forbidRequester: boolean;
}

export type PolicyVerdict = { ok: true } | { ok: false; reason: string };

/** A policy that can be satisfied: `user` approves alone, and cannot also be forbidden. */
export function checkPolicy(policy: ApprovalPolicy): PolicyVerdict {
  if (!Number.isInteger(policy.required) || policy.required < 1 || policy.required > 10)
    return { ok: false, reason: 'required must be 1 to 10' };
  if (policy.approvers === 'user' && (policy.required !== 1 || policy.forbidRequester))
    return { ok: false, reason: 'approvers "user" means the user alone approves: required 1, forbid_requester false' };
  if (policy.approvers === 'role' && policy.tools.length === 0)
    return { ok: false, reason: 'approvers "role" needs the tools whose approve permission qualifies' };
  return { ok: true };
}

/** The strictest combination, for a request whose details have several types. */
export function combinePolicies(policies: readonly ApprovalPolicy[]): ApprovalPolicy {
  const role = policies.some((p) => p.approvers === 'role');
  return {
    approvers: role ? 'role' : 'user',
    tools: [...new Set(policies.flatMap((p) => p.tools))].sort(),
    required: Math.max(1, ...policies.map((p) => p.required)),
    forbidRequester: policies.some((p) => p.forbidRequester),
  };
}

/**
 * Whether `approver` may decide a request. The owner of the agent that drafted the action never
 * may (they answer for the agent: approving its request would be approving themselves).
 */
export function mayDecide(
  policy: ApprovalPolicy,
  who: { approver: string; requester: string; agentOwner: string | null; approvableTools: ReadonlySet<string> },
): PolicyVerdict {
  if (who.agentOwner !== null && who.approver === who.agentOwner)
    return { ok: false, reason: 'the owner of the agent that drafted this action cannot approve it' };
  if (policy.forbidRequester && who.approver === who.requester)
    return { ok: false, reason: 'the member this action is for cannot approve it' };
  if (policy.approvers === 'user')
    return who.approver === who.requester ? { ok: true } : { ok: false, reason: 'only the user this action is for approves it' };
  const missing = policy.tools.filter((tool) => !who.approvableTools.has(tool));
  return missing.length === 0 ? { ok: true } : { ok: false, reason: `approving needs the approve permission on ${missing.join(', ')}` };
}

/** The request's state after its votes: a denial denies, N distinct approvals approve. */
export function tally(
  policy: ApprovalPolicy,
  votes: readonly { member_id: string; decision: 'approve' | 'deny' }[],
): 'pending' | 'approved' | 'denied' {
  if (votes.some((v) => v.decision === 'deny')) return 'denied';
  const approvers = new Set(votes.filter((v) => v.decision === 'approve').map((v) => v.member_id));
  return approvers.size >= policy.required ? 'approved' : 'pending';
}
