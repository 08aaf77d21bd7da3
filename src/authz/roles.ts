import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import { ConflictError, InvalidRequestError, NotFoundError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import { InvalidatingCache } from '../events/cache.js';
import { mapUniqueViolation } from '../store/errors.js';
import type { RolePermissionsTable, RolesTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import type { Organizations } from '../tenancy/organizations.js';
import type { Classification, Environment, Permission } from './decision.js';
import type { Binding, CreateRole, PermissionInput, Role } from './schemas.js';

function toPermissionInput(row: RolePermissionsTable): PermissionInput {
  return {
    tool: row.tool,
    action: row.action,
    ...(row.environments && { environments: JSON.parse(row.environments) as Environment[] }),
    ...(row.max_classification && { max_classification: row.max_classification as Classification }),
    ...(row.approval_required === 1 && { approval_required: true }),
    constraints: JSON.parse(row.constraints) as Record<string, unknown>,
  };
}

export interface RolesDeps {
  store: Store;
  organizations: Organizations;
  audit: AuditLog;
  clock: Clock;
  bus: EventBus;
  cacheTtlMs: number;
}

/**
 * Roles of an organization, as `tool:action` permissions with constraints, bound to members and
 * agents. Decisions read a principal's permissions through a cache that `roles.changed` clears.
 */
export class Roles {
  /** Role permissions and approved elevations (with their end), per principal. */
  private readonly cache: InvalidatingCache<(Permission & { expiresAt?: number })[]>;

  constructor(private readonly deps: RolesDeps) {
    this.cache = new InvalidatingCache(deps.clock, deps.cacheTtlMs);
    deps.bus.subscribe('roles.changed', () => this.cache.clear());
    deps.bus.subscribe('bus.resynced', () => this.cache.clear());
  }

  async create(orgRef: string, input: CreateRole, context: AuditContext): Promise<Role> {
    const org = await this.deps.organizations.require(orgRef);
    const role: RolesTable = {
      id: newId('rol', this.deps.clock.now()),
      org_id: org.id,
      name: input.name,
      description: input.description ?? null,
      created_at: isoAt(this.deps.clock),
    };
    const permissions: RolePermissionsTable[] = input.permissions.map((p) => ({
      id: newId('prm', this.deps.clock.now()),
      role_id: role.id,
      tool: p.tool,
      action: p.action,
      environments: p.environments ? JSON.stringify(p.environments) : null,
      max_classification: p.max_classification ?? null,
      approval_required: p.approval_required ? 1 : 0,
      constraints: JSON.stringify(p.constraints ?? {}),
    }));
    await mapUniqueViolation(
      () =>
        inTransaction(this.deps.store, async (trx) => {
          await trx.insertInto('roles').values(role).execute();
          if (permissions.length > 0) await trx.insertInto('role_permissions').values(permissions).execute();
          await this.deps.audit.append(
            trx,
            { kind: 'role.created', orgId: org.id, detail: { role_id: role.id, name: role.name, permissions: input.permissions } },
            context,
          );
        }),
      () => new ConflictError(`a role named "${input.name}" already exists`),
    );
    return { ...role, permissions: permissions.map(toPermissionInput) };
  }

  async list(orgRef: string): Promise<Role[]> {
    const org = await this.deps.organizations.require(orgRef);
    const roles = await this.deps.store.db.selectFrom('roles').selectAll().where('org_id', '=', org.id).orderBy('name').execute();
    if (roles.length === 0) return [];
    const permissions = await this.deps.store.db
      .selectFrom('role_permissions')
      .selectAll()
      .where(
        'role_id',
        'in',
        roles.map((r) => r.id),
      )
      .execute();
    return roles.map((role) => ({ ...role, permissions: permissions.filter((p) => p.role_id === role.id).map(toPermissionInput) }));
  }

  async remove(orgRef: string, roleId: string, context: AuditContext): Promise<void> {
    const org = await this.deps.organizations.require(orgRef);
    await inTransaction(this.deps.store, async (trx) => {
      const deleted = await trx.deleteFrom('roles').where('org_id', '=', org.id).where('id', '=', roleId).executeTakeFirst();
      if (Number(deleted.numDeletedRows) === 0) throw new NotFoundError('role');
      await this.deps.audit.append(trx, { kind: 'role.deleted', orgId: org.id, detail: { role_id: roleId } }, context);
    });
    await this.deps.bus.publish('roles.changed', { orgId: org.id });
  }

  /** Binds a role to a member or an agent of the same organization. */
  async bind(orgRef: string, roleId: string, binding: Binding, context: AuditContext): Promise<void> {
    const org = await this.deps.organizations.require(orgRef);
    const [principalType, principalId] =
      'member_id' in binding ? (['member', binding.member_id] as const) : (['agent', binding.agent_id] as const);
    await mapUniqueViolation(
      () =>
        inTransaction(this.deps.store, async (trx) => {
          const role = await trx.selectFrom('roles').select('id').where('org_id', '=', org.id).where('id', '=', roleId).executeTakeFirst();
          if (!role) throw new NotFoundError('role');
          const table = principalType === 'member' ? 'members' : 'agents';
          const principal = await trx
            .selectFrom(table)
            .select('id')
            .where('org_id', '=', org.id)
            .where('id', '=', principalId)
            .executeTakeFirst();
          if (!principal) throw new InvalidRequestError(`${principalType} must belong to this organization`);
          await trx
            .insertInto('role_bindings')
            .values({
              role_id: roleId,
              org_id: org.id,
              principal_type: principalType,
              principal_id: principalId,
              created_at: isoAt(this.deps.clock),
            })
            .execute();
          await this.deps.audit.append(
            trx,
            {
              kind: 'role.bound',
              orgId: org.id,
              ...(principalType === 'agent' ? { agentId: principalId } : { subjectId: principalId }),
              detail: { role_id: roleId },
            },
            context,
          );
        }),
      () => new ConflictError('the role is already bound to it'),
    );
    await this.deps.bus.publish('roles.changed', { orgId: org.id });
  }

  async unbind(orgRef: string, roleId: string, principalId: string, context: AuditContext): Promise<void> {
    const org = await this.deps.organizations.require(orgRef);
    await inTransaction(this.deps.store, async (trx) => {
      const deleted = await trx
        .deleteFrom('role_bindings')
        .where('org_id', '=', org.id)
        .where('role_id', '=', roleId)
        .where('principal_id', '=', principalId)
        .executeTakeFirst();
      if (Number(deleted.numDeletedRows) === 0) throw new NotFoundError('role binding');
      await this.deps.audit.append(
        trx,
        { kind: 'role.unbound', orgId: org.id, detail: { role_id: roleId, principal_id: principalId } },
        context,
      );
    });
    await this.deps.bus.publish('roles.changed', { orgId: org.id });
  }

  /**
   * Every permission a member or agent holds in an organization: through its roles, plus approved
   * elevations until they end. Cached; an elevation's end is checked at every read, so it lapses
   * on time whatever the cache holds.
   */
  async permissionsOf(orgId: string, principalId: string): Promise<Permission[]> {
    const entries = await this.cache.get(`${orgId}|${principalId}`, async () => {
      const rows = await this.deps.store.db
        .selectFrom('role_bindings')
        .innerJoin('role_permissions', 'role_permissions.role_id', 'role_bindings.role_id')
        .selectAll('role_permissions')
        .where('role_bindings.org_id', '=', orgId)
        .where('role_bindings.principal_id', '=', principalId)
        .execute();
      const elevated = await this.deps.store.db
        .selectFrom('elevations')
        .select(['tool', 'action', 'expires_at', 'environments', 'max_classification'])
        .where('org_id', '=', orgId)
        .where('principal_id', '=', principalId)
        .where('status', '=', 'approved')
        .where('expires_at', '>', isoAt(this.deps.clock))
        .execute();
      const fromRoles = rows.map((row) => {
        const p = toPermissionInput(row);
        return {
          tool: p.tool,
          action: p.action,
          ...(p.environments && { environments: p.environments }),
          ...(p.max_classification && { maxClassification: p.max_classification }),
          ...(p.approval_required && { approvalRequired: true }),
          ...(p.constraints && Object.keys(p.constraints).length > 0 && { constraints: p.constraints }),
        };
      });
      // An elevation carries the bounds it was approved with, like a role permission.
      const fromElevations = elevated.map((e) => ({
        tool: e.tool,
        action: e.action,
        ...(e.environments && { environments: JSON.parse(e.environments) as Environment[] }),
        ...(e.max_classification && { maxClassification: e.max_classification }),
        expiresAt: Date.parse(e.expires_at as string),
      }));
      return [...fromRoles, ...fromElevations];
    });
    const now = this.deps.clock.now();
    return (entries ?? [])
      .filter((p) => p.expiresAt === undefined || p.expiresAt > now)
      .map(({ expiresAt: _expiresAt, ...permission }) => permission);
  }
}
