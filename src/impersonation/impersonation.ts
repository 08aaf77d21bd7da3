import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Permissions, permissionsBeyond } from '../authz/permissions.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import { hashSecret, newSecret } from '../crypto/secret-token.js';
import { bearerChallenge, MandateError } from '../errors.js';
import type { SecurityAlerts } from '../ops/security-alerts.js';
import type { ActiveSession, IssuedSession, SessionClient, Sessions } from '../sessions/sessions.js';
import type { ImpersonationTokensTable, MembersTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import { settingsOf } from '../tenancy/organizations.js';

/** The permission that lets a member act as another member of their organization. */
export const IMPERSONATE_PERMISSION = { tool: 'mandate.members', action: 'impersonate' } as const;
/** An impersonation token is exchanged at once by the console that asked for it. */
export const IMPERSONATION_TOKEN_TTL_SECONDS = 60;
export const IMPERSONATION_SESSION_TTL_SECONDS = 3600;

export interface ImpersonationTokenRequest {
  member_id: string;
  reason: string;
}

export interface IssuedImpersonationToken {
  token: string;
  token_id: string;
  member_id: string;
  expires_at: string;
}

export interface ImpersonationDeps {
  store: Store;
  sessions: Sessions;
  /** The one permission function (authz/permissions.ts). */
  permissions: Pick<Permissions, 'of'>;
  audit: AuditLog;
  clock: Clock;
  /** Every impersonation raises a security alert, as a break-glass login does. */
  alerts: SecurityAlerts;
}

function invalidToken(description: string): MandateError {
  return new MandateError('unauthorized', description, { challenge: bearerChallenge({ error: 'invalid_token' }) });
}

/** Refused before anything is written; audited as impersonation.refused. */
class Refusal extends MandateError {}

/**
 * Support staff acting as a member: a member holding `mandate.members:impersonate` asks, from a
 * normal session, for a single-use token naming another active member of the same organization
 * and a reason; exchanging it starts a short session whose JWT carries `act` (RFC 8693 §4.1)
 * naming the impersonator, and every event recorded under it names them as the actor.
 */
export class Impersonation {
  constructor(private readonly deps: ImpersonationDeps) {
    // Checked at every use of an impersonation session, not only at its start.
    deps.sessions.guardImpersonation((orgId, impersonatorId, memberId) => this.refusalOf(orgId, impersonatorId, memberId));
  }

  async createToken(session: ActiveSession, input: ImpersonationTokenRequest, context: AuditContext): Promise<IssuedImpersonationToken> {
    try {
      await this.assertMayImpersonate(session, input.member_id);
    } catch (error) {
      if (error instanceof Refusal) await this.recordRefusal(session, input, error.description, context);
      throw error;
    }
    const secret = newSecret('mnd_imp_');
    const now = this.deps.clock.now();
    const row: ImpersonationTokensTable = {
      id: newId('imp', now),
      token_hash: hashSecret(secret),
      org_id: session.orgId,
      impersonator_id: session.memberId,
      member_id: input.member_id,
      reason: input.reason,
      created_at: isoAt(this.deps.clock),
      expires_at: new Date(now + IMPERSONATION_TOKEN_TTL_SECONDS * 1000).toISOString(),
      consumed_at: null,
    };
    await inTransaction(this.deps.store, async (trx) => {
      await trx.insertInto('impersonation_tokens').values(row).execute();
      await this.deps.audit.append(
        trx,
        {
          kind: 'impersonation.token_created',
          orgId: row.org_id,
          actorId: row.impersonator_id,
          subjectId: row.member_id,
          detail: {
            token_id: row.id,
            impersonator_id: row.impersonator_id,
            member_id: row.member_id,
            reason: row.reason,
            expires_at: row.expires_at,
          },
        },
        context,
      );
    });
    return { token: secret, token_id: row.id, member_id: row.member_id, expires_at: row.expires_at };
  }

  /** Exchanges a token for the impersonation session; the token is consumed in the same transaction. */
  async authenticate(token: string, context: AuditContext, client: SessionClient = {}): Promise<IssuedSession> {
    assertImpersonationToken(token);
    const row = await this.deps.store.db
      .selectFrom('impersonation_tokens')
      .selectAll()
      .where('token_hash', '=', hashSecret(token))
      .executeTakeFirst();
    if (!row) throw invalidToken('unknown impersonation token');
    if (row.consumed_at) throw invalidToken('the impersonation token was already used: tokens are single use');
    if (row.expires_at <= isoAt(this.deps.clock)) throw invalidToken('the impersonation token has expired: ask for a new one');
    // The impersonator may have lost the permission or left, or the member gained one, since the token was made.
    const refusal = await this.refusalOf(row.org_id, row.impersonator_id, row.member_id);
    if (refusal) throw invalidToken(`this impersonation may no longer start: ${refusal}`);
    const started = await inTransaction(this.deps.store, async (trx) => {
      const at = isoAt(this.deps.clock);
      const consumed = await trx
        .updateTable('impersonation_tokens')
        .set({ consumed_at: at })
        .where('id', '=', row.id)
        .where('consumed_at', 'is', null)
        .where('expires_at', '>', at)
        .executeTakeFirst();
      if (Number(consumed.numUpdatedRows) !== 1) throw invalidToken('the impersonation token was already used: tokens are single use');
      const org = await trx.selectFrom('organizations').selectAll().where('id', '=', row.org_id).executeTakeFirstOrThrow();
      const [member, impersonator] = await Promise.all([
        trx.selectFrom('members').selectAll().where('org_id', '=', row.org_id).where('id', '=', row.member_id).executeTakeFirst(),
        trx.selectFrom('members').selectAll().where('org_id', '=', row.org_id).where('id', '=', row.impersonator_id).executeTakeFirst(),
      ]);
      if (impersonator?.status !== 'active') throw invalidToken('the member who asked for this token is no longer active');
      if (member?.status !== 'active') throw invalidToken('the member to impersonate is no longer active');
      const issued = await this.deps.sessions.startWithin(
        trx,
        {
          org,
          member,
          amr: ['impersonation'],
          impersonatorId: impersonator.id,
          maxTtlSeconds: IMPERSONATION_SESSION_TTL_SECONDS,
          detail: { token_id: row.id, reason: row.reason },
          client,
        },
        context,
      );
      const event = await this.deps.audit.append(
        trx,
        {
          kind: 'impersonation.started',
          orgId: org.id,
          actorId: impersonator.id,
          subjectId: member.id,
          detail: {
            impersonator_id: impersonator.id,
            impersonator_email: impersonator.email,
            member_id: member.id,
            member_email: member.email,
            session_id: issued.session.id,
            token_id: row.id,
            reason: row.reason,
          },
        },
        context,
      );
      return { issued, org, impersonator, eventId: event.id };
    });
    this.deps.alerts.raise(
      {
        kind: 'impersonation.started',
        organization: { id: started.org.id, slug: started.org.slug },
        member: { id: started.issued.member.id, email: started.issued.member.email },
        impersonator: { id: started.impersonator.id, email: started.impersonator.email },
        at: isoAt(this.deps.clock),
        client_ip: context.clientIp ?? null,
        session_id: started.issued.session.id,
        event_id: started.eventId,
      },
      settingsOf(started.org).security_alert_webhook_url,
    );
    return started.issued;
  }

  /**
   * Why the impersonator may not (or no longer) act as the member, or undefined when they may:
   * they must hold the impersonate permission, and the member may hold nothing they lack, whole
   * permissions compared (environments, classification ceiling, approval), not only names.
   */
  async refusalOf(orgId: string, impersonatorId: string, memberId: string): Promise<string | undefined> {
    const [mine, theirs] = await Promise.all([this.deps.permissions.of(orgId, impersonatorId), this.deps.permissions.of(orgId, memberId)]);
    if (!mine.some((p) => p.tool === IMPERSONATE_PERMISSION.tool && p.action === IMPERSONATE_PERMISSION.action && !p.approvalRequired))
      return `impersonation needs the permission ${IMPERSONATE_PERMISSION.tool}:${IMPERSONATE_PERMISSION.action}`;
    const beyond = permissionsBeyond(theirs, mine);
    if (beyond.length > 0)
      return `the member holds permissions you do not (${beyond.slice(0, 5).join(', ')}): impersonation cannot gain privileges`;
    return undefined;
  }

  private async assertMayImpersonate(session: ActiveSession, memberId: string): Promise<void> {
    if (session.impersonatorId) throw new Refusal('forbidden', 'an impersonation session cannot start another impersonation');
    if (memberId === session.memberId) throw new Refusal('invalid_request', 'you cannot impersonate yourself');
    const member: MembersTable | undefined = await this.deps.store.db
      .selectFrom('members')
      .selectAll()
      .where('org_id', '=', session.orgId)
      .where('id', '=', memberId)
      .executeTakeFirst();
    if (!member) throw new Refusal('not_found', 'member not found');
    if (member.status !== 'active')
      throw new Refusal('conflict', `the member is ${member.status}; only active members can be impersonated`);
    const refusal = await this.refusalOf(session.orgId, session.memberId, memberId);
    if (refusal) throw new Refusal('forbidden', refusal);
  }

  private async recordRefusal(
    session: ActiveSession,
    input: ImpersonationTokenRequest,
    reason: string,
    context: AuditContext,
  ): Promise<void> {
    await inTransaction(this.deps.store, async (trx) => {
      await this.deps.audit.append(
        trx,
        {
          kind: 'impersonation.refused',
          orgId: session.orgId,
          actorId: session.impersonatorId ?? session.memberId,
          result: 'failure',
          detail: { requested_member_id: input.member_id, reason: input.reason, refused_because: reason },
        },
        context,
      );
    });
  }
}

/** Token types cannot be swapped: a session token or JWT is not an impersonation token. */
function assertImpersonationToken(token: string): void {
  if (token.startsWith('mnd_imp_')) return;
  if (token.startsWith('mnd_st_'))
    throw invalidToken('this is a session token, not an impersonation token: impersonation tokens start with mnd_imp_');
  if (token.split('.').length === 3)
    throw invalidToken('this is a JWT, not an impersonation token: impersonation tokens start with mnd_imp_');
  throw invalidToken('not an impersonation token: impersonation tokens start with mnd_imp_');
}
