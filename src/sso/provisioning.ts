import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import { MandateError } from '../errors.js';
import type { MembersTable, OrganizationsTable, SsoConnectionsTable } from '../store/schema.js';
import type { Dialect } from '../store/store.js';
import type { Executor } from '../store/transaction.js';
import { normalizeEmail } from '../tenancy/members.js';
import { domainsOf } from './connections.js';
import type { SsoIdentity } from './protocol.js';

/** Thrown when the identity provider vouched for someone this organization does not let in. */
export class ProvisioningRefused extends MandateError {
  constructor(readonly reason: string) {
    super('forbidden', reason);
  }
}

export interface ProvisionedMember {
  member: MembersTable;
  /** How the member was found: already linked to this IdP subject, linked now by email, or created. */
  matched: 'identity' | 'email' | 'just_in_time';
}

export interface SsoProvisioningDeps {
  audit: AuditLog;
  clock: Clock;
  dialect: Dialect;
}

/**
 * The member an SSO identity logs in as, inside the login's transaction: the member already
 * linked to (connection, subject); else this organization's member with that email, linked now;
 * else, when the connection provisions just in time, a new member. Lookups are scoped to the
 * connection's organization, so a same-email member of another organization is never touched.
 * Only an email of one of the connection's domains is trusted, and never to link a member who
 * already signs in through another connection or holds a break-glass account.
 */
export class SsoProvisioning {
  constructor(private readonly deps: SsoProvisioningDeps) {}

  async provisionWithin(
    trx: Executor,
    org: OrganizationsTable,
    connection: SsoConnectionsTable,
    identity: SsoIdentity,
    context: AuditContext,
  ): Promise<ProvisionedMember> {
    const first = await this.attempt(trx, org, connection, identity, context);
    if (first) return first;
    // A concurrent first login of the same person committed the member or the link meanwhile
    // (the insert waited for it and did nothing): the second look finds it linked.
    const second = await this.attempt(trx, org, connection, identity, context);
    if (second) return second;
    throw new ProvisioningRefused('a concurrent login of this person changed their account: sign in again');
  }

  /** One pass of the lookup; undefined when a concurrent login won an insert. */
  private async attempt(
    trx: Executor,
    org: OrganizationsTable,
    connection: SsoConnectionsTable,
    identity: SsoIdentity,
    context: AuditContext,
  ): Promise<ProvisionedMember | undefined> {
    const at = isoAt(this.deps.clock);
    const linked = await trx
      .selectFrom('member_identities')
      .innerJoin('members', 'members.id', 'member_identities.member_id')
      .selectAll('members')
      .where('member_identities.connection_id', '=', connection.id)
      .where('member_identities.subject', '=', identity.subject)
      .where('members.org_id', '=', org.id)
      .executeTakeFirst();
    if (linked) {
      assertActive(linked);
      await this.touch(trx, connection.id, identity.subject, at);
      return { member: linked, matched: 'identity' };
    }

    const email = normalizeEmail(identity.email);
    const domains = domainsOf(connection);
    // An IdP vouches only for the domains its connection lists: with none, it vouches for no email,
    // else any IdP an organization adds (a partner's) could claim any member, the CEO included.
    if (domains.length === 0) {
      throw new ProvisioningRefused(
        'this connection lists no email domains, so it cannot vouch for an email: an administrator must link the member',
      );
    }
    if (!domains.includes(email.slice(email.lastIndexOf('@') + 1))) {
      throw new ProvisioningRefused('the identity provider asserted an email outside the domains of this connection');
    }
    let lookup = trx.selectFrom('members').selectAll().where('org_id', '=', org.id).where('email', '=', email);
    // Serializes the "no other identity" check below with a concurrent link through another connection.
    if (this.deps.dialect === 'postgres') lookup = lookup.forUpdate();
    const existing = await lookup.executeTakeFirst();
    if (existing) {
      assertActive(existing);
      const other = await trx
        .selectFrom('member_identities')
        .select('connection_id')
        .where('member_id', '=', existing.id)
        .executeTakeFirst();
      if (other) {
        throw new ProvisioningRefused(
          other.connection_id === connection.id
            ? 'this member is linked to another account at this identity provider'
            : 'this member signs in through another identity provider: an administrator must link the member',
        );
      }
      const breakGlass = await trx
        .selectFrom('break_glass_accounts')
        .select('member_id')
        .where('member_id', '=', existing.id)
        .executeTakeFirst();
      if (breakGlass) throw new ProvisioningRefused('this member holds a break-glass account: an administrator must link the member');
      if (!(await this.link(trx, connection.id, identity.subject, org.id, existing.id, at))) return undefined;
      return { member: existing, matched: 'email' };
    }

    if (connection.jit_provisioning !== 1) {
      throw new ProvisioningRefused('no member with this email, and the connection does not provision members just in time');
    }
    const member: MembersTable = {
      id: newId('mbr', this.deps.clock.now()),
      org_id: org.id,
      email,
      name: identity.name ?? null,
      status: 'active',
      created_at: at,
      updated_at: at,
    };
    const inserted = await trx
      .insertInto('members')
      .values(member)
      .onConflict((oc) => oc.columns(['org_id', 'email']).doNothing())
      .executeTakeFirst();
    if (!inserted.numInsertedOrUpdatedRows) return undefined;
    await this.deps.audit.append(
      trx,
      {
        kind: 'member.created',
        orgId: org.id,
        actorId: connection.id,
        subjectId: member.id,
        detail: { email, provisioned: 'just_in_time', connection: connection.id },
      },
      context,
    );
    if (!(await this.link(trx, connection.id, identity.subject, org.id, member.id, at))) {
      throw new ProvisioningRefused('a concurrent login of this person changed their account: sign in again');
    }
    return { member, matched: 'just_in_time' };
  }

  /** False when a concurrent login linked (connection, subject) first. */
  private async link(trx: Executor, connectionId: string, subject: string, orgId: string, memberId: string, at: string): Promise<boolean> {
    const inserted = await trx
      .insertInto('member_identities')
      .values({ connection_id: connectionId, subject, org_id: orgId, member_id: memberId, created_at: at, last_login_at: at })
      .onConflict((oc) => oc.columns(['connection_id', 'subject']).doNothing())
      .executeTakeFirst();
    return !!inserted.numInsertedOrUpdatedRows;
  }

  private async touch(trx: Executor, connectionId: string, subject: string, at: string): Promise<void> {
    await trx
      .updateTable('member_identities')
      .set({ last_login_at: at })
      .where('connection_id', '=', connectionId)
      .where('subject', '=', subject)
      .execute();
  }
}

function assertActive(member: MembersTable): void {
  if (member.status !== 'active') throw new ProvisioningRefused(`the member is ${member.status}`);
}
