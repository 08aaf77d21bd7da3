import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import type { Organizations } from '../tenancy/organizations.js';

export interface IdentityLink {
  connection_id: string;
  subject: string;
  created_at: string;
  last_login_at: string | null;
}

export interface IdentityLinksDeps {
  store: Store;
  organizations: Organizations;
  audit: AuditLog;
  clock: Clock;
}

/**
 * An administrator's links from an IdP subject to a member: for the members SSO will not link
 * by email on its own (signing in through another connection, holding a break-glass account,
 * or at a connection that lists no domains).
 */
export class IdentityLinks {
  constructor(private readonly deps: IdentityLinksDeps) {}

  async list(orgRef: string, memberId: string): Promise<IdentityLink[]> {
    const org = await this.deps.organizations.require(orgRef);
    await this.requireMember(org.id, memberId);
    return this.deps.store.db
      .selectFrom('member_identities')
      .select(['connection_id', 'subject', 'created_at', 'last_login_at'])
      .where('org_id', '=', org.id)
      .where('member_id', '=', memberId)
      .orderBy('created_at')
      .execute();
  }

  async link(
    orgRef: string,
    memberId: string,
    input: { connection_id: string; subject: string },
    context: AuditContext,
  ): Promise<IdentityLink> {
    const org = await this.deps.organizations.require(orgRef);
    return inTransaction(this.deps.store, async (trx) => {
      await this.requireMember(org.id, memberId, trx);
      const connection = await trx
        .selectFrom('sso_connections')
        .select('id')
        .where('org_id', '=', org.id)
        .where('id', '=', input.connection_id)
        .executeTakeFirst();
      if (!connection) throw new NotFoundError('SSO connection');
      const taken = await trx
        .selectFrom('member_identities')
        .select('member_id')
        .where('connection_id', '=', input.connection_id)
        .where('subject', '=', input.subject)
        .executeTakeFirst();
      if (taken) throw new ConflictError('this IdP subject is already linked to a member');
      const row = {
        connection_id: input.connection_id,
        subject: input.subject,
        org_id: org.id,
        member_id: memberId,
        created_at: isoAt(this.deps.clock),
        last_login_at: null,
      };
      await trx.insertInto('member_identities').values(row).execute();
      await this.deps.audit.append(
        trx,
        {
          kind: 'member_identity.linked',
          orgId: org.id,
          subjectId: memberId,
          detail: { connection: input.connection_id, idp_subject: input.subject },
        },
        context,
      );
      return { connection_id: row.connection_id, subject: row.subject, created_at: row.created_at, last_login_at: null };
    });
  }

  /** Removes the member's links at a connection; their sessions from it stay until revoked. */
  async unlink(orgRef: string, memberId: string, connectionId: string, context: AuditContext): Promise<void> {
    const org = await this.deps.organizations.require(orgRef);
    await inTransaction(this.deps.store, async (trx) => {
      const deleted = await trx
        .deleteFrom('member_identities')
        .where('org_id', '=', org.id)
        .where('member_id', '=', memberId)
        .where('connection_id', '=', connectionId)
        .executeTakeFirst();
      if (Number(deleted.numDeletedRows) === 0) throw new NotFoundError('identity link');
      await this.deps.audit.append(
        trx,
        { kind: 'member_identity.unlinked', orgId: org.id, subjectId: memberId, detail: { connection: connectionId } },
        context,
      );
    });
  }

  private async requireMember(orgId: string, memberId: string, trx = this.deps.store.db): Promise<void> {
    const member = await trx.selectFrom('members').select('id').where('org_id', '=', orgId).where('id', '=', memberId).executeTakeFirst();
    if (!member) throw new NotFoundError('member');
  }
}
