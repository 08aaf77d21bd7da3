import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { GroupRoles } from '../authz/group-roles.js';
import { type Clock, isoAt } from '../clock.js';
import { isId, newId } from '../crypto/ids.js';
import { mapUniqueViolation } from '../store/errors.js';
import type { ScimGroupsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import { getAttribute, isObject } from './attribute-paths.js';
import { invalidValue, notFound, uniqueness } from './errors.js';
import { assertIfMatch, withVersion } from './etag.js';
import { normalizeBooleans } from './idp-quirks.js';
import { type ListParameters, listInMemory, parseListQuery } from './list-query.js';
import { applyPatch } from './patch.js';
import { syncMemberRoles } from './role-sync.js';
import { GROUP_SCHEMA, groupSchema, type ResourceSchema, type ScimDocument } from './schemas.js';
import { type MemberRef, ScimStore } from './store.js';

export interface ScimGroupsDeps {
  store: Store;
  audit: AuditLog;
  clock: Clock;
  groupRoles: GroupRoles;
  /** `<issuer>/scim/v2`, for `meta.location` and member `$ref`s. */
  baseUrl: string;
}

const MAX_DISPLAY_NAME = 256;

/**
 * SCIM Groups (RFC 7644 §3) of an organization. Members are the organization's users; after any
 * change of a group's members or name, each affected member's `idp` role bindings follow their
 * groups through the organization's group→role mappings.
 */
export class ScimGroups {
  readonly schema: ResourceSchema = groupSchema();
  private readonly scim: ScimStore;

  constructor(private readonly deps: ScimGroupsDeps) {
    this.scim = new ScimStore({ db: deps.store.db, dialect: deps.store.dialect });
  }

  async list(orgId: string, parameters: ListParameters): Promise<ScimDocument> {
    const query = parseListQuery(parameters, this.schema);
    const rows = await this.scim.groups(orgId);
    const members = await this.scim.membersOfGroups(orgId);
    return listInMemory(
      rows.map((row) => this.document(row, members.get(row.id) ?? [])),
      query,
      this.schema,
    );
  }

  async get(orgId: string, id: string): Promise<ScimDocument> {
    const row = isId('scg', id) ? await this.scim.group(orgId, id) : undefined;
    if (!row) throw notFound('group');
    return this.document(row, (await this.scim.membersOfGroups(orgId, [row.id])).get(row.id) ?? []);
  }

  async create(orgId: string, body: unknown, context: AuditContext): Promise<ScimDocument> {
    const input = this.fieldsOf(this.schema.coerceInbound(normalizeBooleans(body, this.schema, '')));
    const at = isoAt(this.deps.clock);
    const row: ScimGroupsTable = {
      id: newId('scg', this.deps.clock.now()),
      org_id: orgId,
      display_name: input.displayName,
      external_id: input.externalId,
      created_at: at,
      updated_at: at,
    };
    let rolesChanged = false;
    await this.write(async (trx) => {
      if (await this.scim.groupNameTaken(trx, orgId, row.display_name))
        throw uniqueness(`a group named "${row.display_name}" already exists`);
      await this.assertMembers(trx, orgId, input.memberIds);
      await this.scim.insertGroup(trx, row);
      await this.scim.addGroupMembers(trx, row.id, input.memberIds);
      await this.deps.audit.append(
        trx,
        {
          kind: 'scim_group.created',
          orgId,
          detail: { id: row.id, display_name: row.display_name, external_id: row.external_id, added: input.memberIds },
        },
        context,
      );
      rolesChanged = await syncMemberRoles(this.syncDeps(), trx, orgId, input.memberIds, context);
    });
    if (rolesChanged) await this.deps.groupRoles.announce(orgId);
    return this.get(orgId, row.id);
  }

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
      const { row, memberIds } = await this.current(trx, orgId, id, ifMatch);
      await this.scim.deleteGroup(trx, row.id);
      await this.deps.audit.append(
        trx,
        { kind: 'scim_group.deleted', orgId, detail: { id: row.id, display_name: row.display_name, removed: memberIds } },
        context,
      );
      rolesChanged = await syncMemberRoles(this.syncDeps(), trx, orgId, memberIds, context);
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
    let rolesChanged = false;
    await this.write(async (trx) => {
      const { row, document, memberIds } = await this.current(trx, orgId, id, ifMatch);
      const next = await change(document);
      if (!next) return;
      const input = this.fieldsOf(next);
      const before = new Set(memberIds);
      const after = new Set(input.memberIds);
      const added = input.memberIds.filter((memberId) => !before.has(memberId));
      const removed = memberIds.filter((memberId) => !after.has(memberId));
      const renamed = input.displayName !== row.display_name;
      if (!renamed && input.externalId === row.external_id && added.length === 0 && removed.length === 0) return;
      if (renamed && (await this.scim.groupNameTaken(trx, orgId, input.displayName, row.id)))
        throw uniqueness(`a group named "${input.displayName}" already exists`);
      await this.assertMembers(trx, orgId, added);
      await this.scim.updateGroup(trx, row.id, {
        display_name: input.displayName,
        external_id: input.externalId,
        updated_at: isoAt(this.deps.clock),
      });
      await this.scim.addGroupMembers(trx, row.id, added);
      await this.scim.removeGroupMembers(trx, row.id, removed);
      await this.deps.audit.append(
        trx,
        {
          kind: 'scim_group.updated',
          orgId,
          detail: {
            id: row.id,
            display_name: input.displayName,
            ...(renamed && { previous_display_name: row.display_name }),
            added,
            removed,
          },
        },
        context,
      );
      // A renamed group maps to other roles: every member's bindings follow, not only the added and removed.
      const affected = renamed ? [...memberIds, ...added] : [...added, ...removed];
      rolesChanged = await syncMemberRoles(this.syncDeps(), trx, orgId, affected, context);
    });
    if (rolesChanged) await this.deps.groupRoles.announce(orgId);
    return this.get(orgId, id);
  }

  private async current(
    trx: Executor,
    orgId: string,
    id: string,
    ifMatch: string | undefined,
  ): Promise<{ row: ScimGroupsTable; document: ScimDocument; memberIds: string[] }> {
    const row = isId('scg', id) ? await this.scim.group(orgId, id, trx, { lock: true }) : undefined;
    if (!row) throw notFound('group');
    const members = (await this.scim.membersOfGroups(orgId, [row.id], trx)).get(row.id) ?? [];
    const document = this.document(row, members);
    assertIfMatch(ifMatch, (document.meta as { version: string }).version);
    return { row, document, memberIds: members.map((member) => member.id) };
  }

  private fieldsOf(document: ScimDocument): { displayName: string; externalId: string | null; memberIds: string[] } {
    const displayName = getAttribute(document, 'displayName');
    if (typeof displayName !== 'string' || displayName.trim().length === 0)
      throw invalidValue('displayName is required and must not be empty');
    if (displayName.length > MAX_DISPLAY_NAME) throw invalidValue(`displayName is longer than ${MAX_DISPLAY_NAME} characters`);
    const externalId = getAttribute(document, 'externalId');
    const members = getAttribute(document, 'members');
    const values = (Array.isArray(members) ? members : []).map((member) => (isObject(member) ? getAttribute(member, 'value') : undefined));
    if (values.some((value) => typeof value !== 'string')) throw invalidValue('every member needs a value: the id of a user');
    return {
      displayName,
      externalId: typeof externalId === 'string' && externalId.length > 0 ? externalId : null,
      memberIds: [...new Set(values as string[])],
    };
  }

  /** Members must be users of this organization; anything else is refused the same way, so ids of other organizations stay unknowable. */
  private async assertMembers(trx: Executor, orgId: string, memberIds: string[]): Promise<void> {
    const wellFormed = memberIds.filter((memberId) => isId('mbr', memberId));
    const existing = await this.scim.existingMemberIds(trx, orgId, wellFormed);
    const unknown = memberIds.filter((memberId) => !existing.has(memberId));
    if (unknown.length > 0)
      throw invalidValue(`no user ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', …' : ''} in this organization`);
  }

  private document(row: ScimGroupsTable, members: MemberRef[]): ScimDocument {
    const base = this.deps.baseUrl;
    return withVersion({
      schemas: [GROUP_SCHEMA],
      id: row.id,
      ...(row.external_id && { externalId: row.external_id }),
      displayName: row.display_name,
      members: members.map((member) => ({
        value: member.id,
        display: member.name ?? member.user_name ?? member.email,
        $ref: `${base}/Users/${member.id}`,
        type: 'User',
      })),
      meta: { resourceType: 'Group', created: row.created_at, lastModified: row.updated_at, location: `${base}/Groups/${row.id}` },
    });
  }

  private syncDeps(): { scim: ScimStore; groupRoles: GroupRoles } {
    return { scim: this.scim, groupRoles: this.deps.groupRoles };
  }

  private write<T>(work: (trx: Executor) => Promise<T>): Promise<T> {
    return mapUniqueViolation(
      () => inTransaction(this.deps.store, work),
      () => uniqueness('a group with this displayName already exists'),
    );
  }
}
