import { isIP } from 'node:net';
import type { Selectable } from 'kysely';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import type { Envelope } from '../crypto/envelope.js';
import { ConflictError, InvalidRequestError, MandateError, NotFoundError } from '../errors.js';
import type { SecurityAlerts } from '../ops/security-alerts.js';
import type { IssuedSession, SessionClient, Sessions } from '../sessions/sessions.js';
import type { BreakGlassAccountsTable, MembersTable, OrganizationsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import type { LoginPolicy } from '../tenancy/login-policy.js';
import { normalizeEmail } from '../tenancy/members.js';
import { type Organizations, settingsOf } from '../tenancy/organizations.js';
import { hashPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, verifyPassword } from './passwords.js';
import { newTotpSecret, totpUri, verifyTotp } from './totp.js';

type BreakGlassAccountRow = Selectable<BreakGlassAccountsTable>;

/** At most this many break-glass members per organization: a few sealed envelopes, not a second login system. */
export const MAX_BREAK_GLASS_MEMBERS = 5;
/**
 * Throttling failed logins without handing strangers a way to lock the owner out (the account
 * is how an organization gets in while its IdP is down). Three counters, each over
 * FAILURE_WINDOW_SECONDS and each locking for LOCK_SECONDS:
 * - per account and source address (an IPv6 address by its /64): MAX_FAILED_ATTEMPTS failures
 *   lock out that address only, for that account; the owner elsewhere is not affected;
 * - per account, failures whose password was right (a wrong or reused code):
 *   MAX_FAILED_ATTEMPTS lock the whole account, since whoever sends them holds the password and
 *   is guessing the code; a stranger without the password cannot trip it;
 * - per account, wrong passwords from every address together: at MAX_PASSWORD_FAILURES a
 *   security alert goes out, but the account is NOT locked: that would hand anyone with a few
 *   addresses a way to lock the organization out. Spraying addresses buys no real guesses: a
 *   password of 16+ characters behind scrypt, and behind it a TOTP code whose failures (with the
 *   right password) do lock the account. Every failure is audited; administrators unlock
 *   accounts (POST …/break-glass/unlock).
 */
export const MAX_FAILED_ATTEMPTS = 5;
export const MAX_PASSWORD_FAILURES = 50;
export const FAILURE_WINDOW_SECONDS = 15 * 60;
export const LOCK_SECONDS = 15 * 60;
/** A break-glass session is for repairing SSO, not for a working day. */
export const BREAK_GLASS_SESSION_TTL_SECONDS = 3600;
export const BREAK_GLASS_AMR = ['break_glass', 'pwd', 'otp'];

/** The one answer to every failed login: which factor failed, or whether the account exists or is locked, is never said. */
export const LOGIN_FAILED = 'the email, password or code is wrong, or the account is locked after repeated failures';

export interface BreakGlassAccount {
  member_id: string;
  email: string;
  name: string | null;
  member_status: string;
  confirmed: boolean;
  confirmed_at: string | null;
  locked_until: string | null;
  created_at: string;
  updated_at: string;
}

/** Returned once, at enrolment: the TOTP secret is sealed afterwards and never shown again. */
export interface BreakGlassEnrolment {
  member_id: string;
  confirmed: false;
  totp: { secret: string; uri: string; algorithm: 'SHA1'; digits: 6; period: 30 };
}

export interface BreakGlassLogin {
  organization: string;
  email: string;
  password: string;
  code: string;
}

type FailureReason =
  | 'unknown_account'
  | 'locked'
  | 'source_locked'
  | 'member_inactive'
  | 'unconfirmed'
  | 'password'
  | 'code'
  | 'code_reused';

export interface BreakGlassDeps {
  store: Store;
  organizations: Organizations;
  sessions: Sessions;
  policy: LoginPolicy;
  audit: AuditLog;
  envelope: Envelope;
  clock: Clock;
  alerts: SecurityAlerts;
}

/** Thrown inside the login transaction when another login consumed the same TOTP step first. */
class CodeAlreadyUsed extends Error {}

function totpContext(memberId: string): string {
  return `break_glass_accounts:${memberId}`;
}

function loginFailed(): MandateError {
  return new MandateError('unauthorized', LOGIN_FAILED);
}

/**
 * Break-glass accounts: local logins (scrypt password plus TOTP) for a few members of an
 * organization, usable when its SSO is down, even under "SSO required". Every use is audited
 * and alerted; failures are counted and lock the account.
 */
export class BreakGlass {
  /** Verified against when the account does not exist, so a miss costs what a hit costs. */
  private dummyHash: Promise<string> | undefined;
  private readonly dummyTotpSecret = newTotpSecret();

  constructor(private readonly deps: BreakGlassDeps) {}

  async list(orgRef: string): Promise<BreakGlassAccount[]> {
    const org = await this.deps.organizations.require(orgRef);
    const rows = await this.accounts(this.deps.store.db)
      .where('break_glass_accounts.org_id', '=', org.id)
      .orderBy('members.email')
      .execute();
    return rows.map(toView);
  }

  async enroll(orgRef: string, memberId: string, password: string, context: AuditContext): Promise<BreakGlassEnrolment> {
    assertPasswordPolicy(password);
    const org = await this.deps.organizations.require(orgRef);
    const member = await this.requireMember(org.id, memberId, this.deps.store.db);
    if (member.status !== 'active')
      throw new ConflictError(`the member is ${member.status}; only active members can hold a break-glass account`);
    const passwordHash = await hashPassword(password);
    const secret = newTotpSecret();
    const at = isoAt(this.deps.clock);
    await inTransaction(this.deps.store, async (trx) => {
      const existing = await trx
        .selectFrom('break_glass_accounts')
        .select('member_id')
        .where('member_id', '=', member.id)
        .executeTakeFirst();
      if (existing) throw new ConflictError('the member already has a break-glass account; remove it first to enrol again');
      const held = await trx
        .selectFrom('break_glass_accounts')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('org_id', '=', org.id)
        .executeTakeFirst();
      if (Number(held?.n ?? 0) >= MAX_BREAK_GLASS_MEMBERS)
        throw new ConflictError(`an organization may have at most ${MAX_BREAK_GLASS_MEMBERS} break-glass members`);
      await trx
        .insertInto('break_glass_accounts')
        .values({
          member_id: member.id,
          org_id: org.id,
          password_hash: passwordHash,
          totp_ciphertext: this.deps.envelope.seal(secret, totpContext(member.id)),
          totp_confirmed_at: null,
          last_totp_step: null,
          failed_attempts: 0,
          locked_until: null,
          password_failures: 0,
          password_failures_since: null,
          created_at: at,
          updated_at: at,
        })
        .execute();
      await this.deps.audit.append(
        trx,
        { kind: 'break_glass.enrolled', orgId: org.id, subjectId: member.id, detail: { member_id: member.id } },
        context,
      );
    });
    return {
      member_id: member.id,
      confirmed: false,
      totp: {
        secret,
        uri: totpUri(secret, { issuer: `Mandate (${org.slug})`, account: member.email }),
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
      },
    };
  }

  /** Proves the member's authenticator holds the secret; the account counts as a way in only from then on. */
  async confirm(orgRef: string, memberId: string, code: string, context: AuditContext): Promise<BreakGlassAccount> {
    const org = await this.deps.organizations.require(orgRef);
    const account = await this.findAccount(org.id, memberId);
    if (account.totp_confirmed_at) throw new ConflictError('the break-glass account is already confirmed');
    const secret = this.deps.envelope.open(account.totp_ciphertext, totpContext(account.member_id));
    const step = verifyTotp(secret, code, this.deps.clock.now(), account.last_totp_step);
    if (step === null) throw new InvalidRequestError('the code is wrong or expired: enter the current code of the authenticator app');
    const at = isoAt(this.deps.clock);
    await inTransaction(this.deps.store, async (trx) => {
      const updated = await trx
        .updateTable('break_glass_accounts')
        .set({ totp_confirmed_at: at, last_totp_step: step, updated_at: at })
        .where('member_id', '=', account.member_id)
        .where('totp_confirmed_at', 'is', null)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) throw new ConflictError('the break-glass account is already confirmed');
      await this.deps.audit.append(
        trx,
        { kind: 'break_glass.confirmed', orgId: org.id, subjectId: account.member_id, detail: { member_id: account.member_id } },
        context,
      );
    });
    return toView(await this.findAccount(org.id, account.member_id));
  }

  /** Refused (409) when it would leave nobody able to log in under the organization's policy. */
  async remove(orgRef: string, memberId: string, context: AuditContext): Promise<void> {
    const org = await this.deps.organizations.require(orgRef);
    await inTransaction(this.deps.store, async (trx) => {
      const deleted = await trx
        .deleteFrom('break_glass_accounts')
        .where('org_id', '=', org.id)
        .where('member_id', '=', memberId)
        .executeTakeFirst();
      if (Number(deleted.numDeletedRows) !== 1) throw new NotFoundError('break-glass account');
      await this.deps.policy.assertReachable(org.id, trx);
      await this.deps.audit.append(
        trx,
        { kind: 'break_glass.removed', orgId: org.id, subjectId: memberId, detail: { member_id: memberId } },
        context,
      );
    });
  }

  /**
   * Password and TOTP for a short session. Both factors are always checked, against a dummy
   * account when there is none, so the answer and its timing do not tell which part was wrong.
   */
  async login(input: BreakGlassLogin, context: AuditContext, client: SessionClient = {}): Promise<IssuedSession> {
    const org = await this.deps.organizations.require(input.organization).catch((error: unknown) => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    });
    if (org) this.deps.policy.assertAllowed(settingsOf(org), 'break_glass');
    const email = normalizeEmail(input.email);
    const found = org
      ? await this.accounts(this.deps.store.db).where('members.org_id', '=', org.id).where('members.email', '=', email).executeTakeFirst()
      : undefined;
    const now = this.deps.clock.now();
    const source = sourceOf(context.clientIp);
    const throttle = found
      ? await this.deps.store.db
          .selectFrom('break_glass_throttles')
          .select('locked_until')
          .where('member_id', '=', found.member_id)
          .where('source', '=', source)
          .executeTakeFirst()
      : undefined;
    const passwordOk = await verifyPassword(input.password, found?.password_hash ?? (await this.dummy()));
    const secret = found ? this.deps.envelope.open(found.totp_ciphertext, totpContext(found.member_id)) : this.dummyTotpSecret;
    const step = verifyTotp(secret, input.code, now, found?.last_totp_step ?? null);
    const refusal = refusalOf(found, {
      passwordOk,
      step,
      nowIso: isoAt(this.deps.clock),
      sourceLockedUntil: throttle?.locked_until ?? null,
    });
    if (!org) throw loginFailed();
    if (refusal || step === null || !found) {
      await this.recordFailure(org, found, refusal ?? 'code', email, source, context);
      throw loginFailed();
    }
    try {
      const { issued, eventId } = await inTransaction(this.deps.store, async (trx) => {
        const at = isoAt(this.deps.clock);
        const consumed = await trx
          .updateTable('break_glass_accounts')
          .set({ last_totp_step: step, failed_attempts: 0, locked_until: null, updated_at: at })
          .where('member_id', '=', found.member_id)
          .where((eb) => eb.or([eb('last_totp_step', 'is', null), eb('last_totp_step', '<', step)]))
          .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', at)]))
          .executeTakeFirst();
        if (Number(consumed.numUpdatedRows) !== 1) throw new CodeAlreadyUsed();
        await trx.deleteFrom('break_glass_throttles').where('member_id', '=', found.member_id).where('source', '=', source).execute();
        const member = await this.requireMember(org.id, found.member_id, trx);
        const issued = await this.deps.sessions.startWithin(
          trx,
          { org, member, amr: BREAK_GLASS_AMR, detail: { break_glass: true }, maxTtlSeconds: BREAK_GLASS_SESSION_TTL_SECONDS, client },
          context,
        );
        const event = await this.deps.audit.append(
          trx,
          {
            kind: 'break_glass.used',
            orgId: org.id,
            actorId: member.id,
            subjectId: member.id,
            detail: { member_id: member.id, session_id: issued.session.id, client_ip: context.clientIp ?? null },
          },
          context,
        );
        return { issued, eventId: event.id };
      });
      this.deps.alerts.raise(
        {
          kind: 'break_glass.used',
          organization: { id: org.id, slug: org.slug },
          member: { id: issued.member.id, email: issued.member.email },
          at: isoAt(this.deps.clock),
          client_ip: context.clientIp ?? null,
          session_id: issued.session.id,
          event_id: eventId,
        },
        settingsOf(org).security_alert_webhook_url,
      );
      return issued;
    } catch (error) {
      if (!(error instanceof CodeAlreadyUsed)) throw error;
      await this.recordFailure(org, found, 'code_reused', email, source, context);
      throw loginFailed();
    }
  }

  /**
   * Counts a failure (not while locked) against its source address and, by whether the password
   * was right, against the account (see MAX_FAILED_ATTEMPTS), locks at the limits, and audits
   * it; commits even though the login fails.
   */
  private async recordFailure(
    org: OrganizationsTable,
    account: BreakGlassAccountRow | undefined,
    reason: FailureReason,
    email: string,
    source: string,
    context: AuditContext,
  ): Promise<void> {
    const sprayed = await inTransaction(this.deps.store, async (trx) => {
      let spray = false;
      let counted: {
        source_failed_attempts: number;
        source_locked_until?: string;
        failed_attempts?: number;
        locked_until?: string;
      } | null = null;
      if (account && reason !== 'locked' && reason !== 'source_locked') {
        const now = this.deps.clock.now();
        const at = isoAt(this.deps.clock);
        const windowStart = new Date(now - FAILURE_WINDOW_SECONDS * 1000).toISOString();
        const lockUntil = new Date(now + LOCK_SECONDS * 1000).toISOString();
        // Stale rows of this account go, so a spray of addresses leaves at most a window's worth.
        await trx
          .deleteFrom('break_glass_throttles')
          .where('member_id', '=', account.member_id)
          .where('window_started_at', '<=', windowStart)
          .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', at)]))
          .execute();
        await trx
          .insertInto('break_glass_throttles')
          .values({ member_id: account.member_id, source, failed_attempts: 0, window_started_at: at, locked_until: null })
          .onConflict((oc) => oc.columns(['member_id', 'source']).doNothing())
          .execute();
        let query = trx
          .selectFrom('break_glass_throttles')
          .selectAll()
          .where('member_id', '=', account.member_id)
          .where('source', '=', source);
        if (this.deps.store.dialect === 'postgres') query = query.forUpdate();
        const row = await query.executeTakeFirstOrThrow();
        const fresh = row.window_started_at <= windowStart;
        const sourceAttempts = (fresh ? 0 : row.failed_attempts) + 1;
        const sourceLocked = sourceAttempts >= MAX_FAILED_ATTEMPTS;
        await trx
          .updateTable('break_glass_throttles')
          .set({
            failed_attempts: sourceLocked ? 0 : sourceAttempts,
            window_started_at: fresh || sourceLocked ? at : row.window_started_at,
            ...(sourceLocked && { locked_until: lockUntil }),
          })
          .where('member_id', '=', account.member_id)
          .where('source', '=', source)
          .execute();
        counted = { source_failed_attempts: sourceAttempts, ...(sourceLocked && { source_locked_until: lockUntil }) };

        let accountQuery = trx
          .selectFrom('break_glass_accounts')
          .select(['failed_attempts', 'password_failures', 'password_failures_since'])
          .where('member_id', '=', account.member_id);
        if (this.deps.store.dialect === 'postgres') accountQuery = accountQuery.forUpdate();
        const current = await accountQuery.executeTakeFirstOrThrow();
        if (reason === 'code' || reason === 'code_reused') {
          // The password was right: whoever sent it is guessing the code.
          const attempts = Number(current.failed_attempts) + 1;
          const locked = attempts >= MAX_FAILED_ATTEMPTS;
          await trx
            .updateTable('break_glass_accounts')
            .set({ failed_attempts: locked ? 0 : attempts, ...(locked && { locked_until: lockUntil }), updated_at: at })
            .where('member_id', '=', account.member_id)
            .execute();
          counted = { ...counted, failed_attempts: attempts, ...(locked && { locked_until: lockUntil }) };
        } else if (reason === 'password') {
          const since = current.password_failures_since;
          const restart = !since || since <= windowStart;
          const failures = (restart ? 0 : Number(current.password_failures)) + 1;
          spray = failures === MAX_PASSWORD_FAILURES;
          await trx
            .updateTable('break_glass_accounts')
            .set({ password_failures: failures, password_failures_since: restart ? at : since, updated_at: at })
            .where('member_id', '=', account.member_id)
            .execute();
        }
      }
      const event = await this.deps.audit.append(
        trx,
        {
          kind: 'break_glass.failed',
          orgId: org.id,
          actorId: account?.member_id ?? null,
          subjectId: account?.member_id ?? null,
          result: 'failure',
          detail: {
            reason,
            ...(account ? { member_id: account.member_id } : { email }),
            ...counted,
            ...(spray && { password_failures: MAX_PASSWORD_FAILURES }),
            client_ip: context.clientIp ?? null,
          },
        },
        context,
      );
      return spray ? event.id : undefined;
    });
    if (sprayed && account) {
      this.deps.alerts.raise(
        {
          kind: 'break_glass.password_spray',
          organization: { id: org.id, slug: org.slug },
          member: { id: account.member_id, email },
          at: isoAt(this.deps.clock),
          client_ip: context.clientIp ?? null,
          event_id: sprayed,
        },
        settingsOf(org).security_alert_webhook_url,
      );
    }
  }

  /** Lifts every lock of the account (account-wide and per source address) and resets its counters. */
  async unlock(orgRef: string, memberId: string, context: AuditContext): Promise<BreakGlassAccount> {
    const org = await this.deps.organizations.require(orgRef);
    const account = await this.findAccount(org.id, memberId);
    await inTransaction(this.deps.store, async (trx) => {
      const at = isoAt(this.deps.clock);
      const sources = await trx
        .selectFrom('break_glass_throttles')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('member_id', '=', account.member_id)
        .where('locked_until', '>', at)
        .executeTakeFirst();
      await trx.deleteFrom('break_glass_throttles').where('member_id', '=', account.member_id).execute();
      await trx
        .updateTable('break_glass_accounts')
        .set({ failed_attempts: 0, locked_until: null, password_failures: 0, password_failures_since: null, updated_at: at })
        .where('member_id', '=', account.member_id)
        .execute();
      await this.deps.audit.append(
        trx,
        {
          kind: 'break_glass.unlocked',
          orgId: org.id,
          subjectId: account.member_id,
          detail: {
            member_id: account.member_id,
            was_locked_until: account.locked_until && account.locked_until > at ? account.locked_until : null,
            locked_sources: Number(sources?.n ?? 0),
          },
        },
        context,
      );
    });
    return toView(await this.findAccount(org.id, account.member_id));
  }

  private dummy(): Promise<string> {
    this.dummyHash ??= hashPassword('break-glass dummy password never matched');
    return this.dummyHash;
  }

  private accounts(trx: Executor) {
    return trx
      .selectFrom('break_glass_accounts')
      .innerJoin('members', 'members.id', 'break_glass_accounts.member_id')
      .selectAll('break_glass_accounts')
      .select(['members.email', 'members.name', 'members.status as member_status']);
  }

  private async findAccount(orgId: string, memberId: string) {
    const row = await this.accounts(this.deps.store.db)
      .where('break_glass_accounts.org_id', '=', orgId)
      .where('break_glass_accounts.member_id', '=', memberId)
      .executeTakeFirst();
    if (!row) throw new NotFoundError('break-glass account');
    return row;
  }

  private async requireMember(orgId: string, memberId: string, trx: Executor): Promise<MembersTable> {
    const member = await trx.selectFrom('members').selectAll().where('org_id', '=', orgId).where('id', '=', memberId).executeTakeFirst();
    if (!member) throw new NotFoundError('member');
    return member;
  }
}

export function assertPasswordPolicy(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH)
    throw new InvalidRequestError(`a break-glass password must be at least ${MIN_PASSWORD_LENGTH} characters long`);
  if (password.length > MAX_PASSWORD_LENGTH)
    throw new InvalidRequestError(`a break-glass password must be at most ${MAX_PASSWORD_LENGTH} characters long`);
}

/** Why a login with these checks must fail, in the order an administrator would want to know it (audit only). */
function refusalOf(
  account: (BreakGlassAccountRow & { member_status: string }) | undefined,
  checks: { passwordOk: boolean; step: number | null; nowIso: string; sourceLockedUntil: string | null },
): FailureReason | null {
  if (!account) return 'unknown_account';
  if (account.locked_until && account.locked_until > checks.nowIso) return 'locked';
  if (checks.sourceLockedUntil && checks.sourceLockedUntil > checks.nowIso) return 'source_locked';
  if (account.member_status !== 'active') return 'member_inactive';
  if (!account.totp_confirmed_at) return 'unconfirmed';
  if (!checks.passwordOk) return 'password';
  if (checks.step === null) return 'code';
  return null;
}

function toView(row: BreakGlassAccountRow & { email: string; name: string | null; member_status: string }): BreakGlassAccount {
  return {
    member_id: row.member_id,
    email: row.email,
    name: row.name,
    member_status: row.member_status,
    confirmed: row.totp_confirmed_at !== null,
    confirmed_at: row.totp_confirmed_at,
    locked_until: row.locked_until,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/**
 * The source address failures are counted against: the client address, an IPv6 address by its
 * /64 (one subscriber's allocation, so stepping through it buys no extra tries).
 */
export function sourceOf(ip: string | null | undefined): string {
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  if (mapped) return mapped;
  if (isIP(ip) !== 6) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') && tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
