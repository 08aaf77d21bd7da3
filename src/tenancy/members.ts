import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { decodeCursor, type Page, toPage } from '../http/pagination.js';
import { mapUniqueViolation } from '../store/errors.js';
import type { MembersTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import { MemberStore } from './member-store.js';
import type { LoginPolicyGuard, Organizations } from './organizations.js';
import type { PrincipalStops } from './principal-stops.js';
import type { CreateMember, Member, UpdateMember } from './schemas.js';

/** What tenancy needs from identity when a member stops being active (kept as an interface: tenancy does not import identity). */
export interface MemberAccessRevoker {
  revokeWithin(trx: Executor, orgId: string, memberId: string, reason: string, context: AuditContext): Promise<void>;
}

/** Emails compare case-insensitively in practice; stored lower-cased so uniqueness matches that. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export interface MembersDeps {
  store: Store;
  organizations: Organizations;
  audit: AuditLog;
  clock: Clock;
  /** The kill switch: a member who is not active may not act, and coming back revives nothing. */
  stops: PrincipalStops;
  /** Ends a departing member's sessions and grants (tenancy/member-access.ts). */
  access?: MemberAccessRevoker;
  /** Refuses removing the last way into an organization (its last break-glass member under SSO required). */
  guard?: LoginPolicyGuard;
}

/** Members (humans) of an organization. Every lookup is scoped by the organization in the path. */
export class Members {
  private readonly members: MemberStore;

  constructor(private readonly deps: MembersDeps) {
    this.members = new MemberStore(deps.store.db);
  }

  async create(orgRef: string, input: CreateMember, context: AuditContext): Promise<Member> {
    const at = isoAt(this.deps.clock);
    const row = await this.write(async (trx) => {
      const org = await this.deps.organizations.require(orgRef, trx);
      const email = normalizeEmail(input.email);
      await this.assertEmailFree(trx, org.id, email);
      const member: MembersTable = {
        id: newId('mbr', this.deps.clock.now()),
        org_id: org.id,
        email,
        name: input.name ?? null,
        status: input.status ?? 'active',
        created_at: at,
        updated_at: at,
      };
      await this.members.insert(trx, member);
      if (member.status !== 'active') await this.deps.stops.stopWithin(trx, org.id, member.id);
      await this.deps.audit.append(
        trx,
        { kind: 'member.created', orgId: org.id, subjectId: member.id, detail: { email, status: member.status } },
        context,
      );
      return member;
    });
    return toMember(row);
  }

  async get(orgRef: string, memberId: string): Promise<Member> {
    const org = await this.deps.organizations.require(orgRef);
    return toMember(await this.require(org.id, memberId));
  }

  async list(orgRef: string, options: { email?: string | undefined; cursor?: string | undefined; limit: number }): Promise<Page<Member>> {
    const org = await this.deps.organizations.require(orgRef);
    const filter = { after: decodeCursor(options.cursor), ...(options.email && { email: normalizeEmail(options.email) }) };
    const rows = await this.members.list(org.id, filter, options.limit + 1);
    return toPage(rows.map(toMember), options.limit);
  }

  async update(orgRef: string, memberId: string, input: UpdateMember, context: AuditContext): Promise<Member> {
    const row = await this.write(async (trx) => {
      const org = await this.deps.organizations.require(orgRef, trx);
      const current = await this.require(org.id, memberId, trx);
      const email = input.email === undefined ? undefined : normalizeEmail(input.email);
      if (email !== undefined && email !== current.email) await this.assertEmailFree(trx, org.id, email, current.id);
      const changes = {
        ...(email !== undefined && { email }),
        ...(input.name !== undefined && { name: input.name }),
        ...(input.status !== undefined && { status: input.status }),
        updated_at: isoAt(this.deps.clock),
      };
      await this.members.update(trx, org.id, current.id, changes);
      await this.deps.audit.append(
        trx,
        { kind: 'member.updated', orgId: org.id, subjectId: current.id, detail: { changed: input } },
        context,
      );
      if (input.status !== undefined && input.status !== 'active') {
        // The member stops whatever their previous status: an invited member's stop moves on too.
        if (this.deps.access) await this.deps.access.revokeWithin(trx, org.id, current.id, `member ${input.status}`, context);
        else await this.deps.stops.stopWithin(trx, org.id, current.id);
        await this.deps.guard?.assertReachable(org.id, trx);
      } else if (input.status === 'active' && current.status !== 'active') {
        await this.deps.stops.liftWithin(trx, current.id);
      }
      return { ...current, ...changes };
    });
    return toMember(row);
  }

  async remove(orgRef: string, memberId: string, context: AuditContext): Promise<void> {
    await this.write(async (trx) => {
      const org = await this.deps.organizations.require(orgRef, trx);
      const current = await this.require(org.id, memberId, trx);
      if (this.deps.access) await this.deps.access.revokeWithin(trx, org.id, current.id, 'member deleted', context);
      else await this.deps.stops.stopWithin(trx, org.id, current.id);
      await this.members.delete(trx, org.id, current.id);
      await this.deps.guard?.assertReachable(org.id, trx);
      await this.deps.audit.append(
        trx,
        { kind: 'member.deleted', orgId: org.id, subjectId: current.id, detail: { email: current.email } },
        context,
      );
    });
  }

  private async require(orgId: string, memberId: string, trx?: Executor): Promise<MembersTable> {
    const row = await this.members.find(orgId, memberId, trx);
    if (!row) throw new NotFoundError('member');
    return row;
  }

  private async assertEmailFree(trx: Executor, orgId: string, email: string, exceptId?: string): Promise<void> {
    if (await this.members.emailTaken(orgId, email, trx, exceptId)) throw new ConflictError(`a member with email ${email} already exists`);
  }

  private write<T>(work: (trx: Executor) => Promise<T>): Promise<T> {
    return mapUniqueViolation(
      () => inTransaction(this.deps.store, work),
      () => new ConflictError('a member with this email already exists'),
    );
  }
}

function toMember(row: MembersTable): Member {
  return {
    id: row.id,
    org_id: row.org_id,
    email: row.email,
    name: row.name,
    status: row.status,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
