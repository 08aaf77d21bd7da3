import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { CredentialLiveness } from '../authz/liveness.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import type { KeyRing } from '../crypto/key-ring.js';
import { verifyOwnJwt } from '../crypto/own-jwt.js';
import { hashSecret, newSecret } from '../crypto/secret-token.js';
import { signCompactJws } from '../crypto/signing-key.js';
import { bearerChallenge, MandateError, NotFoundError } from '../errors.js';
import type { MembersTable, OrganizationsTable, SessionsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import type { LoginPolicy } from '../tenancy/login-policy.js';
import { MemberStore } from '../tenancy/member-store.js';
import { normalizeEmail } from '../tenancy/members.js';
import { type Organizations, settingsOf } from '../tenancy/organizations.js';
import type { TrustedTokens } from './trusted-tokens.js';

/** Default lifetime of a human session when the organization sets none. */
const DEFAULT_SESSION_TTL_SECONDS = 8 * 3600;
/** Session JWTs are short-lived; clients refresh them with the session token. */
export const SESSION_JWT_TTL_SECONDS = 300;

/** What a session JWT (`typ: session+jwt`) says. */
export interface SessionJwtClaims {
  iss: string;
  aud: string;
  sub: string;
  org_id: string;
  sid: string;
  amr: string[];
  /** RFC 8693 §4.1: on an impersonation session, the member acting. */
  act?: { sub: string };
  iat: number;
  exp: number;
}

export interface ActiveSession {
  id: string;
  orgId: string;
  memberId: string;
  amr: string[];
  expiresAt: string;
  /** Set on an impersonation session: the member acting as `memberId`. */
  impersonatorId: string | null;
}

/** Where a login came from, kept on the session for the member's session list. */
export interface SessionClient {
  ip?: string | null;
  userAgent?: string | null;
}

/** A verified login, ready to become a session (Sessions.startWithin). */
export interface StartSession {
  org: OrganizationsTable;
  member: MembersTable;
  /** RFC 8176 authentication method references, e.g. ["sso"], ["break_glass", "pwd", "otp"], ["impersonation"]. */
  amr: string[];
  /** Audited with the session: which profile, connection or account let the member in. */
  detail: Record<string, unknown>;
  impersonatorId?: string;
  connectionId?: string;
  /** Caps the organization's session lifetime (impersonation and break-glass sessions are short). */
  maxTtlSeconds?: number;
  client?: SessionClient;
}

/** A session as its member and administrators see it (never its token). */
export interface SessionView {
  id: string;
  amr: string[];
  impersonator_id: string | null;
  connection_id: string | null;
  client_ip: string | null;
  user_agent: string | null;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

/** Listing stops here; a member with more sessions than this has bigger problems than paging. */
const MAX_LISTED_SESSIONS = 200;

export interface IssuedSession {
  session_token: string;
  session_jwt: string;
  expires_at: string;
  session: { id: string; org_id: string; member_id: string; amr: string[]; impersonator_id?: string };
  member: { id: string; email: string; name: string | null };
}

function unauthorized(description: string): MandateError {
  return new MandateError('unauthorized', description, { challenge: bearerChallenge({ error: 'invalid_token' }) });
}

/**
 * Human sessions: an opaque `mnd_st_` token (stored as SHA-256) plus a short-lived signed JWT
 * that only the token can renew. Every login method starts one through {@link Sessions.startWithin};
 * members list and end their own, administrators any member's.
 */
/** Why an impersonation may no longer stand, or undefined while it may (impersonation/impersonation.ts). */
export type ImpersonationGuard = (orgId: string, impersonatorId: string, memberId: string) => Promise<string | undefined>;

export interface SessionsDeps {
  store: Store;
  organizations: Organizations;
  trustedTokens: TrustedTokens;
  audit: AuditLog;
  keyRing: KeyRing;
  issuer: string;
  clock: Clock;
  policy: LoginPolicy;
  /** The one liveness test every credential passes (authz/liveness.ts). */
  liveness: CredentialLiveness;
}

export class Sessions {
  private readonly members: MemberStore;
  private impersonationGuard: ImpersonationGuard | undefined;

  constructor(private readonly deps: SessionsDeps) {
    this.members = new MemberStore(deps.store.db);
  }

  /** POST /v1/sessions/attest: a trusted token from the organization's identity stack for a session. */
  async attest(orgRef: string, token: string, context: AuditContext, client: SessionClient = {}): Promise<IssuedSession> {
    const org = await this.deps.organizations.require(orgRef);
    this.deps.policy.assertAllowed(settingsOf(org), 'trusted_token');
    const identity = await this.deps.trustedTokens.verify(org.id, token);
    const email = normalizeEmail(identity.email);
    const existing = await this.members.findByEmail(org.id, email);
    if (existing && existing.status !== 'active') throw new MandateError('forbidden', `member is ${existing.status}`);
    if (!existing && !(await this.deps.trustedTokens.allowsJit(identity.profileId))) {
      throw new MandateError('forbidden', 'no member with this email, and the profile does not provision members just in time');
    }
    const now = this.deps.clock.now();
    return inTransaction(this.deps.store, async (trx) => {
      let member: MembersTable | undefined = existing;
      if (!member) {
        member = {
          id: newId('mbr', now),
          org_id: org.id,
          email,
          name: identity.name ?? null,
          status: 'active',
          created_at: isoAt(this.deps.clock),
          updated_at: isoAt(this.deps.clock),
        };
        await this.members.insert(trx, member);
        await this.deps.audit.append(
          trx,
          {
            kind: 'member.created',
            orgId: org.id,
            actorId: identity.profileId,
            subjectId: member.id,
            detail: { email, provisioned: 'just_in_time' },
          },
          context,
        );
      }
      return this.startWithin(
        trx,
        { org, member, amr: ['trusted_token'], detail: { profile: identity.profileId, idp_subject: identity.subject }, client },
        context,
      );
    });
  }

  /**
   * Starts a session for a member whose login has been verified, inside the caller's transaction
   * (so the member's provisioning, the session and their audit events commit together). Every
   * login method ends here: trusted tokens, SSO, break-glass, impersonation.
   */
  async startWithin(trx: Executor, input: StartSession, context: AuditContext): Promise<IssuedSession> {
    const { org, member } = input;
    if (member.org_id !== org.id) throw new MandateError('forbidden', 'the member belongs to another organization');
    if (member.status !== 'active') throw new MandateError('forbidden', `member is ${member.status}`);
    const secret = newSecret('mnd_st_');
    const now = this.deps.clock.now();
    const settings = settingsOf(org);
    const ttl = Math.min(settings.session_ttl_seconds ?? DEFAULT_SESSION_TTL_SECONDS, input.maxTtlSeconds ?? Number.POSITIVE_INFINITY);
    const session: SessionsTable = {
      id: newId('ses', now),
      token_hash: hashSecret(secret),
      org_id: org.id,
      member_id: member.id,
      amr: JSON.stringify(input.amr),
      impersonator_id: input.impersonatorId ?? null,
      created_at: isoAt(this.deps.clock),
      expires_at: new Date(now + ttl * 1000).toISOString(),
      revoked_at: null,
      client_ip: input.client?.ip ?? context.clientIp ?? null,
      user_agent: input.client?.userAgent?.slice(0, 500) ?? null,
      connection_id: input.connectionId ?? null,
    };
    await trx.insertInto('sessions').values(session).execute();
    await this.deps.audit.append(
      trx,
      {
        kind: 'session.created',
        orgId: org.id,
        actorId: input.impersonatorId ?? member.id,
        subjectId: member.id,
        detail: {
          session_id: session.id,
          amr: input.amr,
          ...(input.impersonatorId && { impersonated_by: input.impersonatorId }),
          ...input.detail,
        },
      },
      context,
    );
    return {
      session_token: secret,
      session_jwt: this.sessionJwt(toActive(session)),
      expires_at: session.expires_at,
      session: {
        id: session.id,
        org_id: session.org_id,
        member_id: member.id,
        amr: input.amr,
        ...(session.impersonator_id && { impersonator_id: session.impersonator_id }),
      },
      member: { id: member.id, email: member.email, name: member.name },
    };
  }

  /** Impersonation registers the check every use of an impersonation session must pass. */
  guardImpersonation(guard: ImpersonationGuard): void {
    this.impersonationGuard = guard;
  }

  /** The active session an opaque session token or a session JWT stands for; 401 otherwise. */
  async authenticate(credential: string): Promise<ActiveSession> {
    let row: SessionsTable | undefined;
    if (credential.startsWith('mnd_st_')) {
      row = await this.deps.store.db.selectFrom('sessions').selectAll().where('token_hash', '=', hashSecret(credential)).executeTakeFirst();
    } else if (credential.startsWith('mnd_imp_')) {
      throw unauthorized('an impersonation token is not a session: exchange it at POST /v1/impersonation/authenticate');
    } else if (credential.startsWith('mnd_')) {
      throw unauthorized('not a session credential: send a session token (mnd_st_…) or a session JWT');
    } else {
      row = await this.sessionOfJwt(credential);
    }
    if (!row) throw unauthorized('unknown session');
    if (row.revoked_at) throw unauthorized('the session was revoked');
    if (row.expires_at <= isoAt(this.deps.clock)) throw unauthorized('the session has expired: sign in again');
    // The member, and an impersonator, must be active and not stopped since the session began.
    const live = this.deps.liveness.check({
      memberId: row.member_id,
      actingMemberIds: row.impersonator_id ? [row.impersonator_id] : [],
      agentIds: [],
      issuedAt: Date.parse(row.created_at) / 1000,
    });
    // A node cut off from its database fails closed without ending anyone's session (docs/architecture.md §11).
    if (!live.live && live.stale) throw new MandateError('temporarily_unavailable', live.reason, { retryAfterSeconds: 1 });
    if (!live.live) throw unauthorized(`the session no longer stands: ${live.reason}`);
    const member = await this.members.find(row.org_id, row.member_id);
    if (member?.status !== 'active') throw unauthorized('the member is no longer active');
    if (row.impersonator_id) {
      // An impersonation session ends with its impersonator's membership.
      const impersonator = await this.members.find(row.org_id, row.impersonator_id);
      if (impersonator?.status !== 'active') throw unauthorized('the impersonating member is no longer active');
      // Permissions are checked live: an impersonator who lost the right, or a member who gained
      // a permission the impersonator lacks, ends the session here and now.
      const refusal = await this.impersonationGuard?.(row.org_id, row.impersonator_id, row.member_id);
      if (refusal) {
        const ended = row;
        await inTransaction(this.deps.store, async (trx) => {
          await trx
            .updateTable('sessions')
            .set({ revoked_at: isoAt(this.deps.clock) })
            .where('id', '=', ended.id)
            .execute();
          await this.deps.audit.append(trx, {
            kind: 'session.revoked',
            orgId: ended.org_id,
            subjectId: ended.member_id,
            detail: { session_id: ended.id, impersonated_by: ended.impersonator_id, reason: refusal },
          });
        });
        throw unauthorized(`the impersonation no longer stands: ${refusal}`);
      }
    }
    return toActive(row);
  }

  /** The session row a session JWT names; an expired JWT says whether the session or only the JWT ended. */
  private async sessionOfJwt(jwt: string): Promise<SessionsTable | undefined> {
    const expected = { typ: 'session+jwt', issuer: this.deps.issuer };
    const claims = verifyOwnJwt<SessionJwtClaims>(this.deps.keyRing, jwt, {
      ...expected,
      nowSeconds: Math.floor(this.deps.clock.now() / 1000),
    });
    if (claims) return this.deps.store.db.selectFrom('sessions').selectAll().where('id', '=', claims.sid).executeTakeFirst();
    const stale = verifyOwnJwt<SessionJwtClaims>(this.deps.keyRing, jwt, { ...expected, nowSeconds: 0 });
    if (!stale) throw unauthorized('the session JWT is invalid');
    const row = await this.deps.store.db.selectFrom('sessions').select('expires_at').where('id', '=', stale.sid).executeTakeFirst();
    if (row && row.expires_at <= isoAt(this.deps.clock)) throw unauthorized('the session has expired: sign in again');
    throw unauthorized('the session JWT has expired: get a fresh one from POST /v1/sessions/refresh with the session token');
  }

  /**
   * A fresh session JWT, for the opaque session token only: a JWT cannot extend itself, so a
   * leaked one dies within minutes.
   */
  async refresh(credential: string): Promise<string> {
    if (!credential.startsWith('mnd_st_'))
      throw unauthorized('refreshing needs the session token (mnd_st_…), not a session JWT: a session JWT cannot extend itself');
    return this.sessionJwt(await this.authenticate(credential));
  }

  /** A fresh short-lived JWT for a session. */
  sessionJwt(session: ActiveSession): string {
    const iat = Math.floor(this.deps.clock.now() / 1000);
    const exp = Math.min(iat + SESSION_JWT_TTL_SECONDS, Math.floor(Date.parse(session.expiresAt) / 1000));
    const claims: SessionJwtClaims = {
      iss: this.deps.issuer,
      aud: this.deps.issuer,
      sub: session.memberId,
      org_id: session.orgId,
      sid: session.id,
      amr: session.amr,
      ...(session.impersonatorId && { act: { sub: session.impersonatorId } }),
      iat,
      exp,
    };
    return signCompactJws(this.deps.keyRing.activeKey(), { typ: 'session+jwt' }, claims as unknown as Record<string, unknown>);
  }

  async revoke(session: ActiveSession, context: AuditContext): Promise<void> {
    await inTransaction(this.deps.store, async (trx) => {
      await trx
        .updateTable('sessions')
        .set({ revoked_at: isoAt(this.deps.clock) })
        .where('id', '=', session.id)
        .where('revoked_at', 'is', null)
        .execute();
      await this.deps.audit.append(
        trx,
        {
          kind: 'session.revoked',
          orgId: session.orgId,
          actorId: session.memberId,
          subjectId: session.memberId,
          detail: { session_id: session.id },
        },
        context,
      );
    });
  }

  /** The member a management request names; 404 when the organization or the member is unknown. */
  async requireMember(orgRef: string, memberId: string): Promise<MembersTable> {
    const org = await this.deps.organizations.require(orgRef);
    const member = await this.members.find(org.id, memberId);
    if (!member) throw new NotFoundError('member');
    return member;
  }

  /** A member's sessions, newest first: the active ones, or all with `includeAll`. */
  async list(orgId: string, memberId: string, options: { includeAll?: boolean } = {}): Promise<SessionView[]> {
    let query = this.deps.store.db.selectFrom('sessions').selectAll().where('org_id', '=', orgId).where('member_id', '=', memberId);
    if (!options.includeAll) query = query.where('revoked_at', 'is', null).where('expires_at', '>', isoAt(this.deps.clock));
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(MAX_LISTED_SESSIONS).execute();
    return rows.map(toView);
  }

  /** Ends sessions of one member (one, or all with `sessionId` unset); 404 when the named one is not theirs. */
  async revokeOf(
    orgId: string,
    memberId: string,
    target: { sessionId?: string; by: 'member' | 'administrator' },
    context: AuditContext,
  ): Promise<number> {
    return inTransaction(this.deps.store, async (trx) => {
      let query = trx.selectFrom('sessions').select(['id', 'revoked_at']).where('org_id', '=', orgId).where('member_id', '=', memberId);
      if (target.sessionId) query = query.where('id', '=', target.sessionId);
      const rows = await query.execute();
      if (target.sessionId && rows.length === 0) throw new NotFoundError('session');
      const live = rows.filter((row) => row.revoked_at === null).map((row) => row.id);
      if (live.length === 0) return 0;
      await trx
        .updateTable('sessions')
        .set({ revoked_at: isoAt(this.deps.clock) })
        .where('id', 'in', live)
        .where('revoked_at', 'is', null)
        .execute();
      for (const id of live) {
        await this.deps.audit.append(
          trx,
          { kind: 'session.revoked', orgId, subjectId: memberId, detail: { session_id: id, revoked_by: target.by } },
          context,
        );
      }
      return live.length;
    });
  }

  async member(session: ActiveSession): Promise<MembersTable | undefined> {
    return this.members.find(session.orgId, session.memberId);
  }
}

function toView(row: SessionsTable): SessionView {
  return {
    id: row.id,
    amr: JSON.parse(row.amr) as string[],
    impersonator_id: row.impersonator_id,
    connection_id: row.connection_id ?? null,
    client_ip: row.client_ip ?? null,
    user_agent: row.user_agent ?? null,
    created_at: row.created_at,
    expires_at: row.expires_at,
    revoked_at: row.revoked_at,
  };
}

function toActive(row: SessionsTable): ActiveSession {
  return {
    id: row.id,
    orgId: row.org_id,
    memberId: row.member_id,
    amr: JSON.parse(row.amr) as string[],
    expiresAt: row.expires_at,
    impersonatorId: row.impersonator_id,
  };
}

/**
 * What only the person may do, never someone impersonating them: approve or vote, ask for an
 * elevation, consent to an agent or app (which would leave the impersonator long-lived tokens in
 * the member's name), exchange the session for agent tokens, connect third-party accounts.
 * Impersonation is for seeing and doing what the member sees and does in Mandate, not for
 * gaining their standing (separation of duties would otherwise be two clicks away).
 */
export function assertNotImpersonating(session: ActiveSession, what: string): void {
  if (session.impersonatorId) throw new MandateError('forbidden', `an impersonation session cannot ${what}; only the member can`);
}
