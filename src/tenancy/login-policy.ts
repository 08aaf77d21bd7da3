import { type Clock, isoAt } from '../clock.js';
import { MandateError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { Executor } from '../store/transaction.js';
import { settingsOf } from './organizations.js';
import type { OrganizationSettings } from './schemas.js';

/** How a human proves who they are to Mandate (impersonation is not a login: it starts from one). */
export type LoginMethod = 'sso' | 'trusted_token' | 'break_glass';

/** Thrown when an organization's authentication policy refuses a login method. */
export class LoginMethodRefused extends MandateError {
  constructor(description: string) {
    super('forbidden', description);
  }
}

/**
 * Why the organization's policy refuses `method` for a member, or null when it allows it.
 * "SSO required" allows SSO, and break-glass for the members who hold a break-glass account;
 * otherwise `allowed_auth_methods` (unset: every method) decides.
 */
export function loginRefusal(
  settings: Pick<OrganizationSettings, 'allowed_auth_methods' | 'sso_required'>,
  method: LoginMethod,
): string | null {
  if (settings.sso_required) {
    if (method === 'sso' || method === 'break_glass') return null;
    return 'this organization requires SSO: sign in through its identity provider';
  }
  if (settings.allowed_auth_methods && !settings.allowed_auth_methods.includes(method)) {
    return `this organization does not allow ${method.replace('_', '-')} login`;
  }
  return null;
}

/** The ways into an organization that exist right now, for the lock-out guard. */
export interface LoginPaths {
  activeSsoConnections: number;
  trustedTokenProfiles: number;
  /** Active members with a break-glass account whose TOTP is confirmed and that is not locked. */
  breakGlassMembers: number;
}

/**
 * Why a policy would lock every member out, or null. Only a restricting policy (SSO required, or
 * an explicit list of methods) is judged, so an organization with nothing configured yet can
 * still be created and set up.
 */
export function lockoutRefusal(settings: OrganizationSettings, paths: LoginPaths): string | null {
  if (!settings.sso_required && !settings.allowed_auth_methods) return null;
  const usable = (method: LoginMethod): boolean => loginRefusal(settings, method) === null;
  const reachable =
    (usable('sso') && paths.activeSsoConnections > 0) ||
    (usable('trusted_token') && paths.trustedTokenProfiles > 0) ||
    (usable('break_glass') && paths.breakGlassMembers > 0);
  if (reachable) return null;
  if (settings.sso_required) {
    return 'refusing to require SSO: the organization has no active SSO connection and no break-glass member, so nobody could log in. Add an SSO connection or a break-glass account first.';
  }
  return `refusing to allow only ${settings.allowed_auth_methods?.join(', ') || 'no method'}: none of these methods is set up for this organization, so nobody could log in.`;
}

export interface LoginPolicyDeps {
  store: Store;
  clock: Clock;
}

/** Reads the facts the policy needs; the pure rules above decide. */
export class LoginPolicy {
  constructor(private readonly deps: LoginPolicyDeps) {}

  async paths(orgId: string, trx: Executor = this.deps.store.db): Promise<LoginPaths> {
    const count = async (query: { executeTakeFirst(): Promise<{ n: number | string | bigint } | undefined> }): Promise<number> =>
      Number((await query.executeTakeFirst())?.n ?? 0);
    const [activeSsoConnections, trustedTokenProfiles, breakGlassMembers] = await Promise.all([
      count(
        trx
          .selectFrom('sso_connections')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('org_id', '=', orgId)
          .where('status', '=', 'active'),
      ),
      count(
        trx
          .selectFrom('trusted_token_profiles')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('org_id', '=', orgId),
      ),
      count(
        trx
          .selectFrom('break_glass_accounts')
          .innerJoin('members', 'members.id', 'break_glass_accounts.member_id')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('break_glass_accounts.org_id', '=', orgId)
          .where('break_glass_accounts.totp_confirmed_at', 'is not', null)
          // A locked account is no way in until it unlocks (or an administrator unlocks it).
          .where((eb) =>
            eb.or([
              eb('break_glass_accounts.locked_until', 'is', null),
              eb('break_glass_accounts.locked_until', '<=', isoAt(this.deps.clock)),
            ]),
          )
          .where('members.status', '=', 'active'),
      ),
    ]);
    return { activeSsoConnections, trustedTokenProfiles, breakGlassMembers };
  }

  /**
   * Refuses (409) a change that would leave nobody able to log in: a new policy, or removing a
   * way in (disabling the last SSO connection, a break-glass account) under the current one.
   * Call inside the transaction that makes the change, after the change.
   */
  async assertReachable(orgId: string, trx: Executor): Promise<void> {
    // Every change to a way in, and every policy change, serializes on the organization's row:
    // otherwise "require SSO" and "disable the last connection" could each pass against the
    // other's old state and both commit (READ COMMITTED). The settings are read under the lock.
    let query = trx.selectFrom('organizations').select('settings').where('id', '=', orgId);
    if (this.deps.store.dialect === 'postgres') query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (!row) return;
    const current = settingsOf(row);
    const refusal = lockoutRefusal(current, await this.paths(orgId, trx));
    if (refusal) throw new MandateError('conflict', refusal);
  }

  /** Refuses (403) a login the organization's policy does not allow. */
  assertAllowed(settings: OrganizationSettings, method: LoginMethod): void {
    const refusal = loginRefusal(settings, method);
    if (refusal) throw new LoginMethodRefused(refusal);
  }
}
