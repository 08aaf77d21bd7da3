import { type Kysely, sql } from 'kysely';
import type { Database, MembersTable, ScimGroupsTable } from '../store/schema.js';
import type { Dialect } from '../store/store.js';
import type { Executor } from '../store/transaction.js';

/** A group a member belongs to, as the member's `groups` attribute shows it. */
export interface GroupRef {
  id: string;
  display_name: string;
}

/** A group member, with what its `display` is made of. */
export interface MemberRef {
  id: string;
  name: string | null;
  user_name: string | null | undefined;
  email: string;
}

/** Lists beyond this many ids read the whole organization instead of one `IN (…)` (bind-parameter limits). */
const MAX_IDS_IN_QUERY = 500;

export interface ScimStoreDeps {
  db: Kysely<Database>;
  dialect: Dialect;
}

/** The SCIM queries over members and SCIM groups, every one scoped by organization. */
export class ScimStore {
  constructor(private readonly deps: ScimStoreDeps) {}

  /**
   * Serializes one organization's SCIM user writes on PostgreSQL (SQLite has one writer already):
   * userName is unique case-insensitively, which no index enforces, so check-then-write must not race.
   */
  async lockUsers(trx: Executor, orgId: string): Promise<void> {
    if (this.deps.dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtext(${`scim_users:${orgId}`}))`.execute(trx);
  }

  async member(
    orgId: string,
    id: string,
    trx: Executor = this.deps.db,
    options: { lock?: boolean } = {},
  ): Promise<MembersTable | undefined> {
    let query = trx.selectFrom('members').selectAll().where('org_id', '=', orgId).where('id', '=', id);
    if (options.lock && this.deps.dialect === 'postgres') query = query.forUpdate();
    return query.executeTakeFirst();
  }

  async members(orgId: string, filter: { externalId?: string; ids?: string[] } = {}): Promise<MembersTable[]> {
    let query = this.deps.db.selectFrom('members').selectAll().where('org_id', '=', orgId);
    if (filter.externalId !== undefined) query = query.where('external_id', '=', filter.externalId);
    if (filter.ids) {
      if (filter.ids.length === 0) return [];
      query = query.where('id', 'in', filter.ids);
    }
    return query.orderBy('id').execute();
  }

  async memberPage(orgId: string, offset: number, limit: number): Promise<{ rows: MembersTable[]; total: number }> {
    const total = await this.deps.db
      .selectFrom('members')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('org_id', '=', orgId)
      .executeTakeFirstOrThrow();
    const rows =
      limit === 0
        ? []
        : await this.deps.db
            .selectFrom('members')
            .selectAll()
            .where('org_id', '=', orgId)
            .orderBy('id')
            .offset(offset)
            .limit(limit)
            .execute();
    return { rows, total: Number(total.n) };
  }

  /** Ids of the members whose SCIM userName (the email when none was set) is `userName`, compared case-insensitively (RFC 7643 §4.1.1). */
  async memberIdsByUserName(orgId: string, userName: string, trx: Executor = this.deps.db, exceptId?: string): Promise<string[]> {
    const wanted = userName.toLowerCase();
    let query = trx.selectFrom('members').select(['id', 'user_name', 'email']).where('org_id', '=', orgId);
    if (exceptId) query = query.where('id', '!=', exceptId);
    const rows = await query.execute();
    return rows.filter((row) => (row.user_name ?? row.email).toLowerCase() === wanted).map((row) => row.id);
  }

  /** Whether the member holds a break-glass account (confirmed or not). */
  async holdsBreakGlass(trx: Executor, orgId: string, memberId: string): Promise<boolean> {
    const row = await trx
      .selectFrom('break_glass_accounts')
      .select('member_id')
      .where('org_id', '=', orgId)
      .where('member_id', '=', memberId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async emailTaken(trx: Executor, orgId: string, email: string, exceptId?: string): Promise<boolean> {
    let query = trx.selectFrom('members').select('id').where('org_id', '=', orgId).where('email', '=', email);
    if (exceptId) query = query.where('id', '!=', exceptId);
    return (await query.executeTakeFirst()) !== undefined;
  }

  /** Each member's SCIM groups, for the given members (or every member of the organization). */
  async groupsOfMembers(orgId: string, memberIds?: string[], trx: Executor = this.deps.db): Promise<Map<string, GroupRef[]>> {
    let query = trx
      .selectFrom('scim_group_members')
      .innerJoin('scim_groups', 'scim_groups.id', 'scim_group_members.group_id')
      .select(['scim_group_members.member_id', 'scim_groups.id', 'scim_groups.display_name'])
      .where('scim_groups.org_id', '=', orgId);
    if (memberIds && memberIds.length <= MAX_IDS_IN_QUERY) {
      if (memberIds.length === 0) return new Map();
      query = query.where('scim_group_members.member_id', 'in', memberIds);
    }
    const rows = await query.orderBy('scim_groups.display_name').orderBy('scim_groups.id').execute();
    const byMember = new Map<string, GroupRef[]>();
    for (const row of rows) {
      const list = byMember.get(row.member_id) ?? [];
      list.push({ id: row.id, display_name: row.display_name });
      byMember.set(row.member_id, list);
    }
    return byMember;
  }

  /** Which of `ids` are members of the organization. */
  async existingMemberIds(trx: Executor, orgId: string, ids: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < ids.length; i += MAX_IDS_IN_QUERY) {
      const chunk = ids.slice(i, i + MAX_IDS_IN_QUERY);
      const rows = await trx.selectFrom('members').select('id').where('org_id', '=', orgId).where('id', 'in', chunk).execute();
      for (const row of rows) found.add(row.id);
    }
    return found;
  }

  async group(
    orgId: string,
    id: string,
    trx: Executor = this.deps.db,
    options: { lock?: boolean } = {},
  ): Promise<ScimGroupsTable | undefined> {
    let query = trx.selectFrom('scim_groups').selectAll().where('org_id', '=', orgId).where('id', '=', id);
    if (options.lock && this.deps.dialect === 'postgres') query = query.forUpdate();
    return query.executeTakeFirst();
  }

  async groups(orgId: string): Promise<ScimGroupsTable[]> {
    return this.deps.db.selectFrom('scim_groups').selectAll().where('org_id', '=', orgId).orderBy('id').execute();
  }

  async groupNameTaken(trx: Executor, orgId: string, displayName: string, exceptId?: string): Promise<boolean> {
    let query = trx.selectFrom('scim_groups').select('id').where('org_id', '=', orgId).where('display_name', '=', displayName);
    if (exceptId) query = query.where('id', '!=', exceptId);
    return (await query.executeTakeFirst()) !== undefined;
  }

  /** The members of each group (of the given groups, or of every group of the organization). */
  async membersOfGroups(orgId: string, groupIds?: string[], trx: Executor = this.deps.db): Promise<Map<string, MemberRef[]>> {
    let query = trx
      .selectFrom('scim_group_members')
      .innerJoin('scim_groups', 'scim_groups.id', 'scim_group_members.group_id')
      .innerJoin('members', 'members.id', 'scim_group_members.member_id')
      .select(['scim_group_members.group_id', 'members.id', 'members.name', 'members.user_name', 'members.email'])
      .where('scim_groups.org_id', '=', orgId);
    if (groupIds && groupIds.length <= MAX_IDS_IN_QUERY) {
      if (groupIds.length === 0) return new Map();
      query = query.where('scim_group_members.group_id', 'in', groupIds);
    }
    const rows = await query.orderBy('members.id').execute();
    const byGroup = new Map<string, MemberRef[]>();
    for (const { group_id, ...member } of rows) {
      const list = byGroup.get(group_id) ?? [];
      list.push(member);
      byGroup.set(group_id, list);
    }
    return byGroup;
  }

  async insertGroup(trx: Executor, row: ScimGroupsTable): Promise<void> {
    await trx.insertInto('scim_groups').values(row).execute();
  }

  async updateGroup(
    trx: Executor,
    id: string,
    changes: Pick<ScimGroupsTable, 'display_name' | 'external_id' | 'updated_at'>,
  ): Promise<void> {
    await trx.updateTable('scim_groups').set(changes).where('id', '=', id).execute();
  }

  async deleteGroup(trx: Executor, id: string): Promise<void> {
    await trx.deleteFrom('scim_group_members').where('group_id', '=', id).execute();
    await trx.deleteFrom('scim_groups').where('id', '=', id).execute();
  }

  async addGroupMembers(trx: Executor, groupId: string, memberIds: string[]): Promise<void> {
    for (let i = 0; i < memberIds.length; i += MAX_IDS_IN_QUERY) {
      const chunk = memberIds.slice(i, i + MAX_IDS_IN_QUERY);
      await trx
        .insertInto('scim_group_members')
        .values(chunk.map((member_id) => ({ group_id: groupId, member_id })))
        .execute();
    }
  }

  async removeGroupMembers(trx: Executor, groupId: string, memberIds: string[]): Promise<void> {
    for (let i = 0; i < memberIds.length; i += MAX_IDS_IN_QUERY) {
      const chunk = memberIds.slice(i, i + MAX_IDS_IN_QUERY);
      await trx.deleteFrom('scim_group_members').where('group_id', '=', groupId).where('member_id', 'in', chunk).execute();
    }
  }

  /** Names of the SCIM groups each member is in, for their role sync. */
  async groupNamesOf(trx: Executor, orgId: string, memberIds: string[]): Promise<Map<string, string[]>> {
    const byMember = new Map<string, string[]>(memberIds.map((id) => [id, []]));
    for (let i = 0; i < memberIds.length; i += MAX_IDS_IN_QUERY) {
      const chunk = memberIds.slice(i, i + MAX_IDS_IN_QUERY);
      const rows = await trx
        .selectFrom('scim_group_members')
        .innerJoin('scim_groups', 'scim_groups.id', 'scim_group_members.group_id')
        .select(['scim_group_members.member_id', 'scim_groups.display_name'])
        .where('scim_groups.org_id', '=', orgId)
        .where('scim_group_members.member_id', 'in', chunk)
        .execute();
      for (const row of rows) byMember.get(row.member_id)?.push(row.display_name);
    }
    return byMember;
  }
}
