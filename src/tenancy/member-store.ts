import type { Kysely } from 'kysely';
import type { Database, MembersTable } from '../store/schema.js';
import type { Executor } from '../store/transaction.js';

/** Member rows, always scoped by organization: no query here can cross a tenant boundary. */
export class MemberStore {
  constructor(private readonly db: Kysely<Database>) {}

  async find(orgId: string, memberId: string, trx: Executor = this.db): Promise<MembersTable | undefined> {
    return trx.selectFrom('members').selectAll().where('org_id', '=', orgId).where('id', '=', memberId).executeTakeFirst();
  }

  async findByEmail(orgId: string, email: string, trx: Executor = this.db): Promise<MembersTable | undefined> {
    return trx.selectFrom('members').selectAll().where('org_id', '=', orgId).where('email', '=', email).executeTakeFirst();
  }

  async emailTaken(orgId: string, email: string, trx: Executor, exceptId?: string): Promise<boolean> {
    let query = trx.selectFrom('members').select('id').where('org_id', '=', orgId).where('email', '=', email);
    if (exceptId) query = query.where('id', '!=', exceptId);
    return (await query.executeTakeFirst()) !== undefined;
  }

  async list(orgId: string, filter: { email?: string; after?: string }, limit: number): Promise<MembersTable[]> {
    let query = this.db.selectFrom('members').selectAll().where('org_id', '=', orgId);
    if (filter.email) query = query.where('email', '=', filter.email);
    if (filter.after) query = query.where('id', '>', filter.after);
    return query.orderBy('id').limit(limit).execute();
  }

  async insert(trx: Executor, row: MembersTable): Promise<void> {
    await trx.insertInto('members').values(row).execute();
  }

  async update(
    trx: Executor,
    orgId: string,
    id: string,
    changes: Partial<Omit<MembersTable, 'id' | 'org_id' | 'created_at'>>,
  ): Promise<void> {
    await trx.updateTable('members').set(changes).where('org_id', '=', orgId).where('id', '=', id).execute();
  }

  /** Deletes the member and what only gives them power: role bindings and elevations (their stop stays, as a tombstone). */
  async delete(trx: Executor, orgId: string, id: string): Promise<void> {
    await trx.deleteFrom('role_bindings').where('org_id', '=', orgId).where('principal_id', '=', id).execute();
    await trx.deleteFrom('elevations').where('org_id', '=', orgId).where('principal_id', '=', id).execute();
    await trx.deleteFrom('members').where('org_id', '=', orgId).where('id', '=', id).execute();
  }
}
