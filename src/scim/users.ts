import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { GroupRoles } from '../authz/group-roles.js';
import { type Clock, isoAt } from '../clock.js';
import { isId, newId } from '../crypto/ids.js';
import { mapUniqueViolation } from '../store/errors.js';
import type { MembersTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import type { LoginPolicy } from '../tenancy/login-policy.js';
import type { MemberAccess } from '../tenancy/member-access.js';
import { MemberStore } from '../tenancy/member-store.js';
import type { PrincipalStops } from '../tenancy/principal-stops.js';
import { mutability, notFound, uniqueness } from './errors.js';
import { assertIfMatch } from './etag.js';
import { requiredEquality } from './filter.js';
import { normalizeBooleans } from './idp-quirks.js';
import { type ListParameters, listInMemory, listResponse, parseListQuery } from './list-query.js';
import { applyPatch } from './patch.js';
import { type ResourceSchema, type ScimDocument, userSchema } from './schemas.js';
import { ScimStore } from './store.js';
import { type MemberFields, memberFieldsOf, userDocument } from './user-mapping.js';

export interface ScimUsersDeps {
  store: Store;
  audit: AuditLog;
  clock: Clock;
  /** Deprovisioning: ends a member's sessions, grants and tokens and suspends the agents they own. */
  memberAccess: MemberAccess;
  /** The kill switch: a user provisioned inactive may not act; reactivation revives no old credential. */
  stops: PrincipalStops;
  groupRoles: GroupRoles;
  /** The lock-out guard: no SCIM deprovisioning may leave the organization without a way in. */
  loginPolicy: LoginPolicy;
  /** `<issuer>/scim/v2`, for `meta.location`. */
  baseUrl: string;
}

/**
 * SCIM Users (RFC 7644 §3) over the organization's members. A user deactivated (`active: false`
 * by any PUT or PATCH shape) or deleted loses every session, grant and token at once, and the
 * agents they own are suspended; reactivating makes the member active again but leaves the
 * agents suspended until someone answers for them. Members holding a break-glass account are
 * the organization's way in when the IdP fails, so the IdP may not deactivate, delete or re-key them.
 */
export class ScimUsers {
  readonly schema: ResourceSchema = userSchema();
  private readonly scim: ScimStore;

  constructor(private readonly deps: ScimUsersDeps) {
    this.scim = new ScimStore({ db: deps.store.db, dialect: deps.store.dialect });
  }

  async list(orgId: string, parameters: ListParameters): Promise<ScimDocument> {
    const query = parseListQuery(parameters, this.schema);
    if (!query.filter && !query.sortBy) {
      const { rows, total } = await this.scim.memberPage(orgId, query.startIndex - 1, query.count);
      return listResponse(await this.documents(orgId, rows), total, query, this.schema);
    }
    return listInMemory(await this.documents(orgId, await this.candidates(orgId, query.filter)), query, this.schema);
  }

  async get(orgId: string, id: string): Promise<ScimDocument> {
    const row = isId('mbr', id) ? await this.scim.member(orgId, id) : undefined;
    if (!row) throw notFound('user');
    return (await this.documents(orgId, [row]))[0] as ScimDocument;
  }

  async create(orgId: string, body: unknown, context: AuditContext): Promise<ScimDocument> {
    const fields = memberFieldsOf(this.schema.coerceInbound(normalizeBooleans(body, this.schema, '')));
    const at = isoAt(this.deps.clock);
    const row = await this.write(async (trx) => {
      await this.scim.lockUsers(trx, orgId);
      await this.assertFree(trx, orgId, fields);
      const member: MembersTable = {
        id: newId('mbr', this.deps.clock.now()),
        org_id: orgId,
        email: fields.email,
        name: fields.name,
        status: fields.active === false ? 'suspended' : 'active',
        created_at: at,
        updated_at: at,
        user_name: fields.userName,
        external_id: fields.externalId,
        scim_attributes: fields.attributes,
      };
      await trx.insertInto('members').values(member).execute();
      if (member.status !== 'active') await this.deps.stops.stopWithin(trx, orgId, member.id);
      await this.deps.audit.append(
        trx,
        {
          kind: 'member.created',
          orgId,
          subjectId: member.id,
          detail: { source: 'scim', user_name: member.user_name, email: member.email, status: member.status },
        },
        context,
      );
      return member;
    });
    return userDocument(row, [], this.deps.baseUrl);
  }

  /** PUT (RFC 7644 §3.5.1): the resource replaces the user; read-only attributes are ignored. */
  async replace(orgId: string, id: string, body: unknown, ifMatch: string | undefined, context: AuditContext): Promise<ScimDocument> {
    const replacement = this.schema.coerceInbound(normalizeBooleans(body, this.schema, ''));
    return this.update(orgId, id, ifMatch, context, async () => replacement);
  }

  async patch(orgId: string, id: string, body: unknown, ifMatch: string | undefined, context: AuditContext): Promise<ScimDocument> {
    return this.update(orgId, id, ifMatch, context, (current) => applyPatch(this.schema, current, body));
  }

  async remove(orgId: string, id: string, ifMatch: string | undefined, context: AuditContext): Promise<void> {
    let rolesChanged = false;
    await inTransaction(this.deps.store, async (trx) => {
      const { row } = await this.current(trx, orgId, id, ifMatch);
      await this.assertNotBreakGlass(trx, orgId, row.id);
      rolesChanged = await this.deps.groupRoles.syncWithin(trx, orgId, row.id, [], context);
      await this.deps.memberAccess.revokeWithin(trx, orgId, row.id, 'deprovisioned by SCIM (deleted)', context);
      await trx.deleteFrom('scim_group_members').where('member_id', '=', row.id).execute();
      await new MemberStore(this.deps.store.db).delete(trx, orgId, row.id);
      await this.deps.audit.append(
        trx,
        {
          kind: 'member.deleted',
          orgId,
          subjectId: row.id,
          detail: { source: 'scim', user_name: row.user_name ?? null, email: row.email },
        },
        context,
      );
      await this.deps.loginPolicy.assertReachable(orgId, trx);
    });
    if (rolesChanged) await this.deps.groupRoles.announce(orgId);
  }

  private async update(
    orgId: string,
    id: string,
    ifMatch: string | undefined,
    context: AuditContext,
    change: (current: ScimDocument) => Promise<ScimDocument | undefined>,
  ): Promise<ScimDocument> {
    const result = await this.write(async (trx) => {
      await this.scim.lockUsers(trx, orgId);
      const { row, document } = await this.current(trx, orgId, id, ifMatch);
      const next = await change(document);
      if (!next) return document;
      const fields = memberFieldsOf(next);
      await this.assertFree(trx, orgId, fields, row.id);
      const status =
        fields.active === undefined || fields.active === (row.status === 'active') ? row.status : fields.active ? 'active' : 'suspended';
      const changes = {
        email: fields.email,
        name: fields.name,
        status,
        user_name: fields.userName,
        external_id: fields.externalId,
        scim_attributes: fields.attributes,
      };
      const changed = (Object.keys(changes) as (keyof typeof changes)[]).filter((key) => changes[key] !== (row[key] ?? null));
      if (changed.length === 0) return document;
      const deactivated = status === 'suspended' && row.status !== 'suspended';
      const rekeyed = changes.email !== row.email || changes.user_name !== (row.user_name ?? row.email);
      if (deactivated || rekeyed) await this.assertNotBreakGlass(trx, orgId, row.id);
      const updated: MembersTable = { ...row, ...changes, updated_at: isoAt(this.deps.clock) };
      await trx
        .updateTable('members')
        .set({ ...changes, updated_at: updated.updated_at })
        .where('org_id', '=', orgId)
        .where('id', '=', row.id)
        .execute();
      await this.deps.audit.append(
        trx,
        { kind: 'member.updated', orgId, subjectId: row.id, detail: { source: 'scim', changed, status } },
        context,
      );
      if (deactivated) {
        await this.deps.memberAccess.revokeWithin(trx, orgId, row.id, 'deprovisioned by SCIM (active: false)', context);
        await this.deps.loginPolicy.assertReachable(orgId, trx);
      }
      if (status === 'active' && row.status !== 'active') await this.deps.stops.liftWithin(trx, row.id);
      return (await this.documents(orgId, [updated], trx))[0] as ScimDocument;
    });
    return result;
  }

  /** The member as it stands (locked for the write on PostgreSQL), after the If-Match check. */
  private async current(
    trx: Executor,
    orgId: string,
    id: string,
    ifMatch: string | undefined,
  ): Promise<{ row: MembersTable; document: ScimDocument }> {
    const row = isId('mbr', id) ? await this.scim.member(orgId, id, trx, { lock: true }) : undefined;
    if (!row) throw notFound('user');
    const document = (await this.documents(orgId, [row], trx))[0] as ScimDocument;
    assertIfMatch(ifMatch, (document.meta as { version: string }).version);
    return { row, document };
  }

  private async assertNotBreakGlass(trx: Executor, orgId: string, memberId: string): Promise<void> {
    if (await this.scim.holdsBreakGlass(trx, orgId, memberId))
      throw mutability('this member holds a break-glass account: break-glass accounts are managed by administrators, not the IdP');
  }

  private async assertFree(trx: Executor, orgId: string, fields: MemberFields, exceptId?: string): Promise<void> {
    if ((await this.scim.memberIdsByUserName(orgId, fields.userName, trx, exceptId)).length > 0)
      throw uniqueness(`a user with userName "${fields.userName}" already exists`);
    if (await this.scim.emailTaken(trx, orgId, fields.email, exceptId))
      throw uniqueness(`a user with email "${fields.email}" already exists`);
  }

  /** The members a filter could match, narrowed by the equality it requires when there is one. */
  private async candidates(orgId: string, filter: Parameters<typeof requiredEquality>[0] | undefined): Promise<MembersTable[]> {
    if (!filter) return this.scim.members(orgId);
    const id = requiredEquality(filter, 'id');
    if (id !== undefined) return this.scim.members(orgId, { ids: [id] });
    const externalId = requiredEquality(filter, 'externalId');
    if (externalId !== undefined) return this.scim.members(orgId, { externalId });
    const userName = requiredEquality(filter, 'userName');
    if (userName !== undefined) return this.scim.members(orgId, { ids: await this.scim.memberIdsByUserName(orgId, userName) });
    return this.scim.members(orgId);
  }

  private async documents(orgId: string, rows: MembersTable[], trx?: Executor): Promise<ScimDocument[]> {
    const groups = await this.scim.groupsOfMembers(
      orgId,
      rows.map((row) => row.id),
      trx,
    );
    return rows.map((row) => userDocument(row, groups.get(row.id) ?? [], this.deps.baseUrl));
  }

  private write<T>(work: (trx: Executor) => Promise<T>): Promise<T> {
    return mapUniqueViolation(
      () => inTransaction(this.deps.store, work),
      () => uniqueness('a user with this userName or email already exists'),
    );
  }
}
