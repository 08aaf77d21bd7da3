import type { AgentRegistryLimits, RegistryLimits } from '../agents/registry-limits.js';
import { CLASSIFICATIONS, type DecisionRequest, type Permission } from './decision.js';
import type { Roles } from './roles.js';

const rank = (classification: string): number => CLASSIFICATIONS.indexOf(classification as (typeof CLASSIFICATIONS)[number]);

/** Why a request lies outside an agent's registry limits, or undefined when it lies inside. */
export function outsideRegistry(limits: RegistryLimits, request: DecisionRequest): string | undefined {
  if (limits.allowedTools.length > 0 && !limits.allowedTools.includes(request.tool))
    return `the tool ${request.tool} is not among the agent's allowed_tools`;
  if (rank(request.classification) > rank(limits.maxClassification))
    return `${request.classification} data exceeds the agent's max_data_classification (${limits.maxClassification})`;
  if (request.environment !== limits.environment) return `the agent is registered for ${limits.environment}, not ${request.environment}`;
  return undefined;
}

/**
 * An agent's permissions cut down to its registry limits: only allowed tools, never above its
 * classification ceiling, only in its environment. Pure, so every consumer narrows the same way.
 */
export function withinRegistry(permissions: readonly Permission[], limits: RegistryLimits): Permission[] {
  const narrowed: Permission[] = [];
  for (const permission of permissions) {
    if (limits.allowedTools.length > 0 && !limits.allowedTools.includes(permission.tool)) continue;
    if (permission.environments && !permission.environments.includes(limits.environment)) continue;
    const ceiling =
      permission.maxClassification && rank(permission.maxClassification) < rank(limits.maxClassification)
        ? permission.maxClassification
        : limits.maxClassification;
    narrowed.push({ ...permission, environments: [limits.environment], maxClassification: ceiling });
  }
  return narrowed;
}

/** Whether `holder` covers everything `permission` allows: same tool and action, as many environments, as high a ceiling, no approval where it needs none. */
function covers(holder: Permission, permission: Permission): boolean {
  if (holder.tool !== permission.tool || holder.action !== permission.action) return false;
  if (holder.environments && (!permission.environments || permission.environments.some((e) => !holder.environments?.includes(e))))
    return false;
  if (holder.maxClassification && (!permission.maxClassification || rank(permission.maxClassification) > rank(holder.maxClassification)))
    return false;
  return !holder.approvalRequired || permission.approvalRequired === true;
}

/**
 * The permissions of `candidate` that `holder` does not cover in full (environments,
 * classification ceiling and approval compared, not only `tool:action`), as `tool:action` names:
 * impersonation may never reach beyond the impersonator's own permissions.
 */
export function permissionsBeyond(candidate: readonly Permission[], holder: readonly Permission[]): string[] {
  const beyond = candidate.filter((p) => !holder.some((h) => covers(h, p))).map((p) => `${p.tool}:${p.action}`);
  return [...new Set(beyond)];
}

/** What the kill switch says of a principal. */
export interface StoppedPrincipals {
  isStopped(id: string): boolean;
}

/**
 * The one permission function: what a member or agent of an organization may do right now.
 * A stopped principal may do nothing; an agent holds its roles' permissions (and approved
 * elevations) narrowed to its registry limits; an agent the organization does not have holds
 * none. Decisions, token exchange, approvals and impersonation all ask here.
 */
export class Permissions {
  constructor(
    private readonly deps: {
      roles: Pick<Roles, 'permissionsOf'>;
      stops: StoppedPrincipals;
      limits: Pick<AgentRegistryLimits, 'of'>;
    },
  ) {}

  async of(orgId: string, principalId: string): Promise<Permission[]> {
    if (this.deps.stops.isStopped(principalId)) return [];
    if (!principalId.startsWith('agt_')) return this.deps.roles.permissionsOf(orgId, principalId);
    const [permissions, limits] = await Promise.all([
      this.deps.roles.permissionsOf(orgId, principalId),
      this.deps.limits.of(orgId, principalId),
    ]);
    return limits ? withinRegistry(permissions, limits) : [];
  }

  /** The agent's registry limits (undefined when the organization has no such agent). */
  limitsOf(orgId: string, agentId: string): Promise<RegistryLimits | undefined> {
    return this.deps.limits.of(orgId, agentId);
  }
}
