import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import type { KeyRing } from '../crypto/key-ring.js';
import { verifyOwnJwt } from '../crypto/own-jwt.js';
import { hashSecret, newSecret } from '../crypto/secret-token.js';
import { signCompactJws } from '../crypto/signing-key.js';
import { ApiError } from '../http/errors.js';
import type { MembersTable, OrganizationsTable, SessionsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import { MemberStore } from '../tenancy/member-store.js';
import { normalizeEmail } from '../tenancy/members.js';
import type { Organizations } from '../tenancy/organizations.js';
import type { OrganizationSettings } from '../tenancy/schemas.js';
import type { LoginPolicy } from './login-policy.js';
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

export interface IssuedSession {
  session_token: string;
  session_jwt: string;
  expires_at: string;
  session: { id: string; org_id: string; member_id: string; amr: string[]; impersonator_id?: string };
  member: { id: string; email: string; name: string | null };
}

function unauthorized(description: string): ApiError {
  return new ApiError('unauthorized', description, { headers: { 'www-authenticate': 'Bearer realm="mandate", error="invalid_token"' } });
}

/**
 * Human sessions: an opaque `mnd_st_` token (stored as SHA-256) plus a short-lived signed JWT.
 * Sessions start from a verified trusted token; members are matched by email, or created just
 * in time when the profile allows it.
 */
export class Sessions {
  private readonly members: MemberStore;

  constructor(
    private readonly store: Store,
    private readonly organizations: Organizations,
    private readonly trustedTokens: TrustedTokens,
    private readonly audit: AuditLog,
    private readonly keyRing: KeyRing,
    private readonly issuer: string,
    private readonly clock: Clock,
    private readonly policy: LoginPolicy,
  ) {
    this.members = new MemberStore(store.db);
  }

  /** POST /v1/sessions/attest: a trusted token from the organization's identity stack for a session. */
  async attest(orgRef: string, token: string, context: AuditContext, client: SessionClient = {}): Promise<IssuedSession> {
    const org = await this.organizations.require(orgRef);
    this.policy.assertAllowed(settingsOf(org), 'trusted_token');
    const identity = await this.trustedTokens.verify(org.id, token);
    const email = normalizeEmail(identity.email);
    const existing = await this.members.findByEmail(org.id, email);
    if (existing && existing.status !== 'active') throw new ApiError('forbidden', `member is ${existing.status}`);
    if (!existing && !(await this.trustedTokens.allowsJit(identity.profileId))) {
      throw new ApiError('forbidden', 'no member with this email, and the profile does not provision members just in time');
    }
    const now = this.clock.now();
    return inTransaction(this.store, async (trx) => {
      let member: MembersTable | undefined = existing;
      if (!member) {
        member = {
          id: newId('mbr', now),
          org_id: org.id,
          email,
          name: identity.name ?? null,
          status: 'active',
          created_at: isoAt(this.clock),
          updated_at: isoAt(this.clock),
        };
        await this.members.insert(trx, member);
        await this.audit.append(
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
    if (member.org_id !== org.id) throw new ApiError('forbidden', 'the member belongs to another organization');
    if (member.status !== 'active') throw new ApiError('forbidden', `member is ${member.status}`);
    const secret = newSecret('mnd_st_');
    const now = this.clock.now();
    const settings = settingsOf(org);
    const ttl = Math.min(settings.session_ttl_seconds ?? DEFAULT_SESSION_TTL_SECONDS, input.maxTtlSeconds ?? Number.POSITIVE_INFINITY);
    const session: SessionsTable = {
      id: newId('ses', now),
      token_hash: hashSecret(secret),
      org_id: org.id,
      member_id: member.id,
      amr: JSON.stringify(input.amr),
      impersonator_id: input.impersonatorId ?? null,
      created_at: isoAt(this.clock),
      expires_at: new Date(now + ttl * 1000).toISOString(),
      revoked_at: null,
      client_ip: input.client?.ip ?? context.clientIp ?? null,
      user_agent: input.client?.userAgent?.slice(0, 500) ?? null,
      connection_id: input.connectionId ?? null,
    };
    await trx.insertInto('sessions').values(session).execute();
    await this.audit.append(
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

  /** The active session an opaque session token or a session JWT stands for; 401 otherwise. */
  async authenticate(credential: string): Promise<ActiveSession> {
    let row: SessionsTable | undefined;
    if (credential.startsWith('mnd_st_')) {
      row = await this.store.db.selectFrom('sessions').selectAll().where('token_hash', '=', hashSecret(credential)).executeTakeFirst();
    } else {
      const claims = verifyOwnJwt<SessionJwtClaims>(this.keyRing, credential, {
        typ: 'session+jwt',
        issuer: this.issuer,
        nowSeconds: Math.floor(this.clock.now() / 1000),
      });
      if (!claims) throw unauthorized('the session JWT is invalid or expired; refresh it with the session token');
      row = await this.store.db.selectFrom('sessions').selectAll().where('id', '=', claims.sid).executeTakeFirst();
    }
    if (!row) throw unauthorized('unknown session');
    if (row.revoked_at) throw unauthorized('the session was revoked');
    if (row.expires_at <= isoAt(this.clock)) throw unauthorized('the session has expired');
    const member = await this.members.find(row.org_id, row.member_id);
    if (member?.status !== 'active') throw unauthorized('the member is no longer active');
    return toActive(row);
  }

  /** A fresh short-lived JWT for a session. */
  sessionJwt(session: ActiveSession): string {
    const iat = Math.floor(this.clock.now() / 1000);
    const exp = Math.min(iat + SESSION_JWT_TTL_SECONDS, Math.floor(Date.parse(session.expiresAt) / 1000));
    const claims: SessionJwtClaims = {
      iss: this.issuer,
      aud: this.issuer,
      sub: session.memberId,
      org_id: session.orgId,
      sid: session.id,
      amr: session.amr,
      ...(session.impersonatorId && { act: { sub: session.impersonatorId } }),
      iat,
      exp,
    };
    return signCompactJws(this.keyRing.activeKey(), { typ: 'session+jwt' }, claims as unknown as Record<string, unknown>);
  }

  async revoke(session: ActiveSession, context: AuditContext): Promise<void> {
    await inTransaction(this.store, async (trx) => {
      await trx
        .updateTable('sessions')
        .set({ revoked_at: isoAt(this.clock) })
        .where('id', '=', session.id)
        .where('revoked_at', 'is', null)
        .execute();
      await this.audit.append(
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

  async member(session: ActiveSession): Promise<MembersTable | undefined> {
    return this.members.find(session.orgId, session.memberId);
  }
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

function settingsOf(org: OrganizationsTable): OrganizationSettings {
  return JSON.parse(org.settings) as OrganizationSettings;
}
