import { randomBytes } from 'node:crypto';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { AuditBatcher } from '../audit/batcher.js';
import { type Clock, isoAt } from '../clock.js';
import type { Envelope } from '../crypto/envelope.js';
import { MandateError, NotFoundError } from '../errors.js';
import type { ConnectedAccountsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import {
  type AccountOwner,
  type AccountView,
  accountTrail,
  accountUnusable,
  findAccount,
  type LiveAccount,
  sealTokens,
  tokenContext,
  view,
} from './account-records.js';
import type { Connections, ResolvedConnection } from './connections.js';
import { grantIsGone, ProviderRefusedError, ProviderUnavailableError, refreshAccessToken, revokeAtProvider } from './provider-client.js';
import type { ProviderTokens } from './providers/types.js';

const LEASE_SECONDS = 30;
const LEASE_POLL_MS = 50;
/** Refresh this long before the provider's expiry, at most (short-lived tokens refresh at a quarter of their life). */
const REFRESH_SKEW_SECONDS = 60;

/**
 * Users' connected accounts at third-party providers: the live token (refreshed ahead of expiry,
 * once, cluster-wide), its status, and disconnection. Tokens are sealed with the master key
 * (vault/authorization-links.ts stores them first).
 */
export class ConnectedAccounts {
  private readonly refreshing = new Map<string, Promise<ConnectedAccountsTable>>();

  constructor(
    private readonly deps: {
      store: Store;
      connections: Connections;
      audit: AuditLog;
      auditBatcher: AuditBatcher;
      envelope: Envelope;
      clock: Clock;
      allowLoopback: boolean;
    },
  ) {}

  async status(owner: AccountOwner, connectionName: string): Promise<AccountView> {
    const connection = await this.deps.connections.resolve(owner.orgId, connectionName);
    const account = await findAccount(this.deps.store.db, connection.row.id, owner.identifier);
    if (!account) throw new NotFoundError('connected account');
    return view(account, connection);
  }

  /**
   * The account with a live access token: refreshed when it expires within the skew, by one
   * request cluster-wide (a lease on the row); a refresh the provider refuses marks the account
   * `reauthorization_required` and is an error, never a stale token.
   */
  async live(owner: AccountOwner, connectionName: string, context: AuditContext): Promise<LiveAccount> {
    const connection = await this.deps.connections.resolve(owner.orgId, connectionName);
    let account = await findAccount(this.deps.store.db, connection.row.id, owner.identifier);
    if (!account) throw new NotFoundError('connected account');
    if (account.status !== 'active') throw accountUnusable(account.status);
    if (this.expiring(account)) account = await this.refreshOnce(connection, account, owner, context);
    if (!account.access_token_ciphertext) throw accountUnusable(account.status);
    await this.resealIfOld(account);
    await this.deps.auditBatcher.record(
      {
        ...accountTrail(owner),
        kind: 'vault.accessed',
        tool: connection.provider.name,
        action: 'read',
        detail: { connection: connectionName },
      },
      context,
    );
    return {
      ...view(account, connection),
      access_token: this.deps.envelope.open(account.access_token_ciphertext, tokenContext(account.id, 'access')),
    };
  }

  /** The user disconnects: the provider revokes the tokens (RFC 7009, where it can) and Mandate deletes them. */
  async disconnect(owner: AccountOwner, connectionName: string, context: AuditContext): Promise<AccountView> {
    const connection = await this.deps.connections.resolve(owner.orgId, connectionName);
    const account = await findAccount(this.deps.store.db, connection.row.id, owner.identifier);
    if (!account) throw new NotFoundError('connected account');
    const at = isoAt(this.deps.clock);
    // Revoked in the database first: a refresh in flight then finds the account gone and drops
    // what it obtained (refreshHeld), instead of bringing the account back.
    const updated = await inTransaction(this.deps.store, async (trx) => {
      await trx
        .updateTable('connected_accounts')
        .set({ status: 'revoked', access_token_ciphertext: null, refresh_token_ciphertext: null, expires_at: null, updated_at: at })
        .where('id', '=', account.id)
        .execute();
      await trx
        .updateTable('vault_authorization_links')
        .set({ completed_at: at })
        .where('connection_id', '=', connection.row.id)
        .where('identifier', '=', owner.identifier)
        .where('completed_at', 'is', null)
        .execute();
      await this.deps.audit.append(
        trx,
        { ...accountTrail(owner), kind: 'vault.disconnected', tool: connection.provider.name, detail: { connection: connectionName } },
        context,
      );
      return {
        ...account,
        status: 'revoked' as const,
        access_token_ciphertext: null,
        refresh_token_ciphertext: null,
        expires_at: null,
        updated_at: at,
      };
    });
    await this.revokeTokens(connection, account);
    return view(updated, connection);
  }

  /** Asks the provider to forget an account's tokens (RFC 7009, where it offers it); best effort. */
  private async revokeTokens(
    connection: ResolvedConnection,
    account: Pick<ConnectedAccountsTable, 'id' | 'access_token_ciphertext' | 'refresh_token_ciphertext'>,
  ): Promise<void> {
    for (const [sealed, kind] of [
      [account.refresh_token_ciphertext, 'refresh'],
      [account.access_token_ciphertext, 'access'],
    ] as const) {
      if (sealed)
        await revokeAtProvider(
          connection,
          this.deps.envelope.open(sealed, tokenContext(account.id, kind)),
          `${kind}_token`,
          this.callOptions,
        );
    }
  }

  /** After a master-key rotation, tokens sealed by the old key are sealed again by the new one as they are read. */
  private async resealIfOld(account: ConnectedAccountsTable): Promise<void> {
    const { envelope } = this.deps;
    const reseal = (sealed: string | null, kind: 'access' | 'refresh') =>
      sealed && envelope.needsReseal(sealed)
        ? envelope.seal(envelope.open(sealed, tokenContext(account.id, kind)), tokenContext(account.id, kind))
        : sealed;
    const access = reseal(account.access_token_ciphertext, 'access');
    const refresh = reseal(account.refresh_token_ciphertext, 'refresh');
    if (access === account.access_token_ciphertext && refresh === account.refresh_token_ciphertext) return;
    await this.deps.store.db
      .updateTable('connected_accounts')
      .set({ access_token_ciphertext: access, refresh_token_ciphertext: refresh })
      .where('id', '=', account.id)
      .where('access_token_ciphertext', '=', account.access_token_ciphertext)
      .execute();
  }

  private get callOptions() {
    return { allowLoopback: this.deps.allowLoopback };
  }

  private expiring(account: ConnectedAccountsTable): boolean {
    if (!account.expires_at) return account.status === 'expired';
    const expires = Date.parse(account.expires_at);
    const lifetime = expires - Date.parse(account.last_refreshed_at ?? account.updated_at);
    const skew = Math.min(REFRESH_SKEW_SECONDS * 1000, Math.max(lifetime / 4, 0));
    return expires - skew <= this.deps.clock.now();
  }

  /** One refresh per account at a time: in this process through a shared promise, across nodes through the lease. */
  private async refreshOnce(
    connection: ResolvedConnection,
    account: ConnectedAccountsTable,
    owner: AccountOwner,
    context: AuditContext,
  ): Promise<ConnectedAccountsTable> {
    let pending = this.refreshing.get(account.id);
    if (!pending) {
      pending = this.refreshUnderLease(connection, account.id, owner, context).finally(() => this.refreshing.delete(account.id));
      this.refreshing.set(account.id, pending);
    }
    return pending;
  }

  private async refreshUnderLease(
    connection: ResolvedConnection,
    accountId: string,
    owner: AccountOwner,
    context: AuditContext,
  ): Promise<ConnectedAccountsTable> {
    const db = this.deps.store.db;
    const deadline = Date.now() + (LEASE_SECONDS + 5) * 1000;
    for (;;) {
      const now = isoAt(this.deps.clock);
      // A lease names one attempt, not a node: every later write of this refresh is conditional on it.
      const lease = randomBytes(12).toString('base64url');
      const leased = await db
        .updateTable('connected_accounts')
        .set({
          refresh_lease_owner: lease,
          refresh_lease_until: new Date(this.deps.clock.now() + LEASE_SECONDS * 1000).toISOString(),
        })
        .where('id', '=', accountId)
        .where((eb) => eb.or([eb('refresh_lease_until', 'is', null), eb('refresh_lease_until', '<', now)]))
        .executeTakeFirst();
      const current = await findAccount(db, connection.row.id, owner.identifier);
      if (!current) throw new NotFoundError('connected account');
      if (Number(leased.numUpdatedRows) === 1) {
        // Another node may have refreshed between our read and the lease.
        if (current.status === 'active' && !this.expiring(current)) return this.releaseLease(current, lease);
        return this.refreshHeld(connection, current, owner, lease, context);
      }
      if (current.status !== 'active') throw accountUnusable(current.status);
      if (!this.expiring(current)) return current;
      if (Date.now() > deadline) throw new MandateError('server_error', 'the refresh of this account did not finish in time');
      await new Promise((resolve) => setTimeout(resolve, LEASE_POLL_MS));
    }
  }

  private async refreshHeld(
    connection: ResolvedConnection,
    account: ConnectedAccountsTable,
    owner: AccountOwner,
    lease: string,
    context: AuditContext,
  ): Promise<ConnectedAccountsTable> {
    const at = isoAt(this.deps.clock);
    const trail = { ...accountTrail(owner), tool: connection.provider.name, detail: { connection: connection.row.name } };
    if (!account.refresh_token_ciphertext) {
      // Nothing to refresh with: the token simply ran out.
      await this.deps.store.db
        .updateTable('connected_accounts')
        .set({ status: 'expired', refresh_lease_owner: null, refresh_lease_until: null, updated_at: at })
        .where('id', '=', account.id)
        .where('refresh_lease_owner', '=', lease)
        .where('status', '=', 'active')
        .execute();
      throw accountUnusable('expired');
    }
    let tokens: ProviderTokens;
    try {
      tokens = await refreshAccessToken(
        connection,
        this.deps.envelope.open(account.refresh_token_ciphertext, tokenContext(account.id, 'refresh')),
        this.callOptions,
      );
    } catch (error) {
      if (grantIsGone(error)) {
        await this.markReauthorization(account, lease, `${error.code}: ${error.message}`.slice(0, 300), trail, context);
        throw accountUnusable('reauthorization_required');
      }
      await this.releaseLease(account, lease);
      const reason = error instanceof ProviderUnavailableError || error instanceof ProviderRefusedError ? error.message : 'error';
      throw new MandateError('provider_unavailable', `the provider could not refresh the token now (${reason}); the account is kept`);
    }
    const write = () =>
      inTransaction(this.deps.store, async (trx) => {
        const changes = {
          status: 'active' as const,
          ...sealTokens(this.deps.envelope, this.deps.clock, account.id, tokens, account.refresh_token_ciphertext),
          ...(tokens.scope && { scopes: tokens.scope }),
          last_refreshed_at: at,
          last_error: null,
          refresh_lease_owner: null,
          refresh_lease_until: null,
          updated_at: at,
        };
        // Only while this attempt still holds the lease and the account was not disconnected meanwhile.
        const written = await trx
          .updateTable('connected_accounts')
          .set(changes)
          .where('id', '=', account.id)
          .where('refresh_lease_owner', '=', lease)
          .where('status', '=', 'active')
          .executeTakeFirst();
        if (Number(written.numUpdatedRows) !== 1) return undefined;
        await this.deps.audit.append(
          trx,
          { ...trail, kind: 'vault.refreshed', detail: { ...trail.detail, rotated: Boolean(tokens.refreshToken) } },
          context,
        );
        return { ...account, ...changes };
      });
    // A rotating provider already retired the old refresh token: losing this write would lose the
    // account, so a failed write is tried once more before giving up.
    const stored = await write().catch(() => write());
    if (stored) return stored;
    // Disconnected (or taken over) while the provider answered: what it issued must not live on.
    await this.revokeTokens(connection, { id: account.id, ...sealTokens(this.deps.envelope, this.deps.clock, account.id, tokens, null) });
    throw new MandateError('conflict', 'the account changed while it was being refreshed');
  }

  private async markReauthorization(
    account: ConnectedAccountsTable,
    lease: string,
    reason: string,
    trail: ReturnType<typeof accountTrail> & { tool: string; detail: Record<string, unknown> },
    context: AuditContext,
  ): Promise<void> {
    const at = isoAt(this.deps.clock);
    await inTransaction(this.deps.store, async (trx) => {
      // A refused refresh token is dead: keep nothing that could pass for a usable credential.
      await trx
        .updateTable('connected_accounts')
        .set({
          status: 'reauthorization_required',
          access_token_ciphertext: null,
          refresh_token_ciphertext: null,
          last_error: reason,
          refresh_lease_owner: null,
          refresh_lease_until: null,
          updated_at: at,
        })
        .where('id', '=', account.id)
        .where('refresh_lease_owner', '=', lease)
        .where('status', '=', 'active')
        .execute();
      await this.deps.audit.append(
        trx,
        {
          ...trail,
          kind: 'vault.refresh_failed',
          result: 'failure',
          errorCode: 'reauthorization_required',
          detail: { ...trail.detail, reason },
        },
        context,
      );
    });
  }

  private async releaseLease(account: ConnectedAccountsTable, lease: string): Promise<ConnectedAccountsTable> {
    await this.deps.store.db
      .updateTable('connected_accounts')
      .set({ refresh_lease_owner: null, refresh_lease_until: null })
      .where('id', '=', account.id)
      .where('refresh_lease_owner', '=', lease)
      .execute();
    return { ...account, refresh_lease_owner: null, refresh_lease_until: null };
  }
}
