import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { InvalidRequestError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import type { Organizations } from '../tenancy/organizations.js';

export interface GroupRoleMapping {
  group: string;
  role_id: string;
}

export interface GroupRolesDeps {
  store: Store;
  organizations: Organizations;
  audit: AuditLog;
  bus: EventBus;
  clock: Clock;
}

/**
 * IdP groups mapped to Mandate roles, per organization. A member's `idp` role bindings follow
 * their groups (an SSO login's group claim, their SCIM group memberships); bindings an
 * administrator made by hand (`manual`) are never touched by a sync.
 */
export class GroupRoles {
  constructor(private readonly deps: GroupRolesDeps) {}

  async list(orgRef: string): Promise<GroupRoleMapping[]> {
    const org = await this.deps.organizations.require(orgRef);
    const rows = await this.deps.store.db
      .selectFrom('group_role_mappings')
      .select(['group_name', 'role_id'])
      .where('org_id', '=', org.id)
      .orderBy('group_name')
      .orderBy('role_id')
      .execute();
    return rows.map((row) => ({ group: row.group_name, role_id: row.role_id }));
  }

  /** Replaces the organization's mappings; members' bindings follow at their next login or SCIM change. */
  async replace(orgRef: string, mappings: GroupRoleMapping[], context: AuditContext): Promise<GroupRoleMapping[]> {
    const org = await this.deps.organizations.require(orgRef);
    await inTransaction(this.deps.store, async (trx) => {
      const roleIds = [...new Set(mappings.map((m) => m.role_id))];
      if (roleIds.length > 0) {
        const known = await trx.selectFrom('roles').select('id').where('org_id', '=', org.id).where('id', 'in', roleIds).execute();
        const missing = roleIds.filter((id) => !known.some((row) => row.id === id));
        if (missing.length > 0) throw new InvalidRequestError(`no role ${missing.join(', ')} in this organization`);
      }
      await trx.deleteFrom('group_role_mappings').where('org_id', '=', org.id).execute();
      const unique = [...new Map(mappings.map((m) => [`${m.group}\u0000${m.role_id}`, m])).values()];
      if (unique.length > 0) {
        await trx
          .insertInto('group_role_mappings')
          .values(unique.map((m) => ({ org_id: org.id, group_name: m.group, role_id: m.role_id, created_at: isoAt(this.deps.clock) })))
          .execute();
      }
      await this.deps.audit.append(trx, { kind: 'group_role_mappings.replaced', orgId: org.id, detail: { mappings: unique } }, context);
    });
    return this.list(org.id);
  }

  /**
   * Makes the member's `idp` bindings exactly the roles their groups map to, inside the caller's
   * transaction. Returns whether anything changed; then call {@link GroupRoles.announce} after commit.
   */
  async syncWithin(trx: Executor, orgId: string, memberId: string, groups: readonly string[], context: AuditContext): Promise<boolean> {
    const wanted =
      groups.length === 0
        ? []
        : (
            await trx
              .selectFrom('group_role_mappings')
              .select('role_id')
              .distinct()
              .where('org_id', '=', orgId)
              .where('group_name', 'in', [...groups])
              .execute()
          ).map((row) => row.role_id);
    const current = await trx
      .selectFrom('role_bindings')
      .select(['role_id', 'source'])
      .where('org_id', '=', orgId)
      .where('principal_type', '=', 'member')
      .where('principal_id', '=', memberId)
      .execute();
    const bound = new Set(current.map((row) => row.role_id));
    const toAdd = wanted.filter((roleId) => !bound.has(roleId));
    const toRemove = current.filter((row) => row.source === 'idp' && !wanted.includes(row.role_id)).map((row) => row.role_id);
    const at = isoAt(this.deps.clock);
    for (const roleId of toAdd) {
      await trx
        .insertInto('role_bindings')
        .values({ role_id: roleId, org_id: orgId, principal_type: 'member', principal_id: memberId, created_at: at, source: 'idp' })
        .execute();
      await this.deps.audit.append(
        trx,
        { kind: 'role.bound', orgId, subjectId: memberId, detail: { role_id: roleId, source: 'idp', groups } },
        context,
      );
    }
    for (const roleId of toRemove) {
      await trx
        .deleteFrom('role_bindings')
        .where('org_id', '=', orgId)
        .where('role_id', '=', roleId)
        .where('principal_type', '=', 'member')
        .where('principal_id', '=', memberId)
        .where('source', '=', 'idp')
        .execute();
      await this.deps.audit.append(
        trx,
        { kind: 'role.unbound', orgId, detail: { role_id: roleId, principal_id: memberId, source: 'idp', groups } },
        context,
      );
    }
    return toAdd.length > 0 || toRemove.length > 0;
  }

  /**
   * Where a member's groups come from: once an organization provisions through SCIM (it holds a
   * live SCIM token), SCIM's group memberships decide and SSO logins' group claims are ignored,
   * so the two sources never undo each other's bindings.
   */
  async groupSource(trx: Executor, orgId: string): Promise<'scim' | 'sso'> {
    const token = await trx
      .selectFrom('scim_tokens')
      .select('id')
      .where('org_id', '=', orgId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return token ? 'scim' : 'sso';
  }

  /** Tells every node's permission caches that the organization's bindings changed. */
  async announce(orgId: string): Promise<void> {
    await this.deps.bus.publish('roles.changed', { orgId });
  }
}
