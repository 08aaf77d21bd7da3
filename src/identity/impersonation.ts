import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { Roles } from '../authz/roles.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import { hashSecret, newSecret } from '../crypto/secret-token.js';
import { ApiError } from '../http/errors.js';
import type { ImpersonationTokensTable, MembersTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import type { ActiveSession, IssuedSession, SessionClient, Sessions } from './sessions.js';

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
  roles: Roles;
  audit: AuditLog;
  clock: Clock;
}

function invalidToken(description: string): ApiError {
  return new ApiError('unauthorized', description, {
    headers: { 'www-authenticate': `Bearer realm="mandate", error="invalid_token"` },
  });
}

/** Refused before anything is written; audited as impersonation.refused. */
class Refusal extends ApiError {}

/**
 * Support staff acting as a member: a member holding `mandate.members:impersonate` asks, from a
 * normal session, for a single-use token naming another active member of the same organization
 * and a reason; exchanging it starts a short session whose JWT carries `act` (RFC 8693 §4.1)
 * naming the impersonator, and every event recorded under it names them as the actor.
 */
export class Impersonation {
  constructor(private readonly deps: ImpersonationDeps) {}

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
    // The impersonator may have lost the permission or left since the token was made.
    if (!(await this.holdsPermission(row.org_id, row.impersonator_id)))
      throw invalidToken('the member who asked for this token may no longer impersonate');
    return inTransaction(this.deps.store, async (trx) => {
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
      await this.deps.audit.append(
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
      return issued;
    });
  }

  private async assertMayImpersonate(session: ActiveSession, memberId: string): Promise<void> {
    if (session.impersonatorId) throw new Refusal('forbidden', 'an impersonation session cannot start another impersonation');
    if (memberId === session.memberId) throw new Refusal('invalid_request', 'you cannot impersonate yourself');
    if (!(await this.holdsPermission(session.orgId, session.memberId)))
      throw new Refusal('forbidden', `impersonation needs the permission ${IMPERSONATE_PERMISSION.tool}:${IMPERSONATE_PERMISSION.action}`);
    const member: MembersTable | undefined = await this.deps.store.db
      .selectFrom('members')
      .selectAll()
      .where('org_id', '=', session.orgId)
      .where('id', '=', memberId)
      .executeTakeFirst();
    if (!member) throw new Refusal('not_found', 'member not found');
    if (member.status !== 'active')
      throw new Refusal('conflict', `the member is ${member.status}; only active members can be impersonated`);
    // Impersonation must not gain privileges: the member may hold nothing the impersonator lacks.
    const [mine, theirs] = await Promise.all([
      this.deps.roles.permissionsOf(session.orgId, session.memberId),
      this.deps.roles.permissionsOf(session.orgId, memberId),
    ]);
    const held = new Set(mine.map((p) => `${p.tool}:${p.action}`));
    const beyond = [...new Set(theirs.map((p) => `${p.tool}:${p.action}`).filter((key) => !held.has(key)))];
    if (beyond.length > 0) {
      throw new Refusal(
        'forbidden',
        `the member holds permissions you do not (${beyond.slice(0, 5).join(', ')}): impersonation cannot gain privileges`,
      );
    }
  }

  private async holdsPermission(orgId: string, memberId: string): Promise<boolean> {
    const permissions = await this.deps.roles.permissionsOf(orgId, memberId);
    return permissions.some(
      (p) => p.tool === IMPERSONATE_PERMISSION.tool && p.action === IMPERSONATE_PERMISSION.action && !p.approvalRequired,
    );
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
