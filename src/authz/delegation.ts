import type { Permission } from './decision.js';

/** How deep a chain of agents acting for agents may go (each link is one `act`). */
export const MAX_DELEGATION_DEPTH = 4;

/** An RFC 8693 §4.1 actor chain: the current actor, and whom it acts for in turn. */
export interface ActorClaim {
  sub: string;
  act?: ActorClaim;
}

export function delegationDepth(act: ActorClaim | undefined): number {
  return act ? 1 + delegationDepth(act.act) : 0;
}

/** The `tool:action` a scope names (`calendar.read`, `calendar:read`), if it names one. */
export function scopePermission(scope: string): { tool: string; action: string } | undefined {
  const at = Math.max(scope.lastIndexOf('.'), scope.lastIndexOf(':'));
  if (at <= 0 || at === scope.length - 1) return undefined;
  return { tool: scope.slice(0, at), action: scope.slice(at + 1) };
}

function holds(permissions: readonly Permission[], scope: string): boolean {
  const named = scopePermission(scope);
  return named !== undefined && permissions.some((p) => p.tool === named.tool && p.action === named.action);
}

export type DelegatedScope = { ok: true; scopes: string[] } | { ok: false; reason: string };

/**
 * The scope of a delegated token: what was asked for (or, if nothing was, everything the
 * subject token carries), which must lie within the subject token's scope — an agent can never
 * widen what it was given — and of which the user and the agent must both hold the permission.
 * Pure: the token-exchange grant feeds it, the property test drives it at every chain depth.
 */
export function delegatedScope(input: {
  requested: readonly string[];
  subject: readonly string[];
  user: readonly Permission[];
  agent: readonly Permission[];
}): DelegatedScope {
  const subject = new Set(input.subject);
  const wider = input.requested.filter((s) => !subject.has(s));
  if (wider.length > 0) return { ok: false, reason: `requested scope exceeds the subject token: ${wider.join(' ')}` };
  const wanted = input.requested.length > 0 ? input.requested : input.subject;
  const userLacks = wanted.filter((s) => !holds(input.user, s));
  const agentLacks = wanted.filter((s) => !holds(input.agent, s));
  if (input.requested.length > 0 && userLacks.length > 0)
    return { ok: false, reason: `the user has no permission for ${userLacks.join(' ')}` };
  if (input.requested.length > 0 && agentLacks.length > 0)
    return { ok: false, reason: `the agent has no permission for ${agentLacks.join(' ')}` };
  const scopes = wanted.filter((s) => holds(input.user, s) && holds(input.agent, s));
  if (scopes.length === 0) return { ok: false, reason: 'no scope of the subject token is permitted to both the user and the agent' };
  return { ok: true, scopes };
}

/** Every agent named in an actor chain, current actor first. */
export function actorChain(act: ActorClaim | undefined): string[] {
  return act ? [act.sub, ...actorChain(act.act)] : [];
}
