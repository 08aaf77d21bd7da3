import type { AuditContext } from '../audit/audit-log.js';
import type { GroupRoles } from '../authz/group-roles.js';
import type { Executor } from '../store/transaction.js';
import type { ScimStore } from './store.js';

/**
 * Makes each member's `idp` role bindings follow their SCIM groups (mapped through the
 * organization's group→role mappings), inside the caller's transaction. Returns whether any
 * binding changed; then announce with GroupRoles.announce after commit.
 */
export async function syncMemberRoles(
  deps: { scim: ScimStore; groupRoles: GroupRoles },
  trx: Executor,
  orgId: string,
  memberIds: Iterable<string>,
  context: AuditContext,
): Promise<boolean> {
  const ids = [...new Set(memberIds)];
  if (ids.length === 0) return false;
  const groups = await deps.scim.groupNamesOf(trx, orgId, ids);
  const present = await deps.scim.existingMemberIds(trx, orgId, ids);
  let changed = false;
  for (const id of ids) {
    if (!present.has(id)) continue;
    if (await deps.groupRoles.syncWithin(trx, orgId, id, groups.get(id) ?? [], context)) changed = true;
  }
  return changed;
}
