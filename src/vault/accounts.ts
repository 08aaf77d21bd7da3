import { createHash, randomBytes } from 'node:crypto';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { AuditBatcher } from '../audit/batcher.js';
import { type Clock, isoAt } from '../clock.js';
import type { Envelope } from '../crypto/envelope.js';
import { newId } from '../crypto/ids.js';
import { hashSecret, newSecret, secretMatches } from '../crypto/secret-token.js';
import { ApiError, InvalidRequestError, NotFoundError } from '../http/errors.js';
import type { ConnectedAccountsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import type { Connections, ResolvedConnection } from './connections.js';
import { exchangeCode, ProviderRefusedError, ProviderUnavailableError, refreshAccessToken, revokeAtProvider } from './provider-client.js';
import type { ProviderTokens } from './providers/types.js';

/** Whose account, in which organization: resolved from the caller by vault/principal.ts. */
export interface AccountOwner {
  orgId: string;
  /** The member the account belongs to. */
  identifier: string;
  /** For the trail: the agent acting, the grant it acts under, the token's jti. */
  agentId?: string | null;
  grantId?: string | null;
  jti?: string | null;
}

/** A link or callback the user's browser brought that Mandate cannot complete. */
export class VaultLinkError extends Error {
  override name = 'VaultLinkError';
}

export interface AccountView {
  id: string;
  connection: string;
  provider: string;
  identifier: string;
  status: ConnectedAccountsTable['status'];
  scopes: string[];
  expires_at: string | null;
  last_refreshed_at: string | null;
}

export interface LiveAccount extends AccountView {
  access_token: string;
}

const LINK_TTL_SECONDS = 600;
const LEASE_SECONDS = 30;
const LEASE_POLL_MS = 50;
/** Refresh this long before the provider's expiry, at most (short-lived tokens refresh at a quarter of their life). */
const REFRESH_SKEW_SECONDS = 60;

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const tokenContext = (accountId: string, kind: 'access' | 'refresh') => `connected_accounts:${accountId}:${kind}`;
const verifierContext = (linkId: string) => `vault_authorization_links:${linkId}`;

/**
 * Users' connected accounts at third-party providers: the authorization link and its callback,
 * the live token (refreshed ahead of expiry, once, cluster-wide), and disconnection. Tokens are
 * sealed with the master key; only the SHA-256 of links, states and browser bindings is stored.
 */
export class ConnectedAccounts {
  private readonly refreshing = new Map<string, Promise<ConnectedAccountsTable>>();
  private readonly nodeId = randomBytes(8).toString('hex');

  constructor(
    private readonly deps: {
      store: Store;
      connections: Connections;
      audit: AuditLog;
      auditBatcher: AuditBatcher;
      envelope: Envelope;
      clock: Clock;
      issuer: string;
      allowLoopback: boolean;
    },
  ) {}

  get callbackUrl(): string {
    return `${this.deps.issuer}/vault/callback`;
  }

  async createLink(
    owner: AccountOwner,
    input: { connection: string; scopes?: string[] | undefined },
    context: AuditContext,
  ): Promise<{ link: string; expires_at: string; connection: string; identifier: string; scopes: string[] }> {
    const connection = await this.deps.connections.resolve(owner.orgId, input.connection);
    const allowed = connection.row.scopes.split(' ').filter(Boolean);
    const scopes = input.scopes ?? allowed;
    const outside = scopes.filter((s) => !allowed.includes(s));
    if (outside.length > 0) throw new InvalidRequestError(`the connection does not allow ${outside.join(', ')}`);
    const token = newSecret('mnd_vl_');
    const now = this.deps.clock.now();
    const at = new Date(now).toISOString();
    const expiresAt = new Date(now + LINK_TTL_SECONDS * 1000).toISOString();
    await inTransaction(this.deps.store, async (trx) => {
      await trx
        .insertInto('vault_authorization_links')
        .values({
          id: hashSecret(token),
          org_id: owner.orgId,
          connection_id: connection.row.id,
          identifier: owner.identifier,
          scopes: scopes.join(' '),
          state_hash: null,
          code_verifier_ciphertext: null,
          browser_hash: null,
          expires_at: expiresAt,
          started_at: null,
          completed_at: null,
          created_at: at,
        })
        .execute();
      // The account exists from the link on, so its status reads `pending` until the user finishes.
      await trx
        .insertInto('connected_accounts')
        .values({
          id: newId('ca', now),
          org_id: owner.orgId,
          connection_id: connection.row.id,
          identifier: owner.identifier,
          status: 'pending',
          scopes: scopes.join(' '),
          access_token_ciphertext: null,
          refresh_token_ciphertext: null,
          expires_at: null,
          refresh_lease_owner: null,
          refresh_lease_until: null,
          last_refreshed_at: null,
          last_error: null,
          created_at: at,
          updated_at: at,
        })
        .onConflict((oc) => oc.columns(['connection_id', 'identifier']).doNothing())
        .execute();
      await this.deps.audit.append(
        trx,
        {
          ...this.trail(owner),
          kind: 'vault.link_created',
          tool: connection.provider.name,
          detail: { connection: input.connection, scopes },
        },
        context,
      );
    });
    return {
      link: `${this.deps.issuer}/vault/authorize/${token}`,
      expires_at: expiresAt,
      connection: input.connection,
      identifier: owner.identifier,
      scopes,
    };
  }

  /**
   * The user opened the link: single use, then off to the provider with `state` and PKCE S256
   * (RFC 7636). The returned cookie binds the callback to this browser, so a code cannot be
   * injected into someone else's link.
   */
  async start(token: string): Promise<{ redirect: string; browserCookie: string }> {
    const link = await this.deps.store.db
      .selectFrom('vault_authorization_links')
      .selectAll()
      .where('id', '=', hashSecret(token))
      .executeTakeFirst();
    if (!link || link.expires_at <= isoAt(this.deps.clock))
      throw new VaultLinkError('This link is not valid or has expired. Ask for a new one.');
    const connection = await this.deps.connections.resolveById(link.connection_id);
    const state = newSecret('mnd_vs_');
    const verifier = randomBytes(32).toString('base64url');
    const browserCookie = randomBytes(32).toString('base64url');
    const claimed = await this.deps.store.db
      .updateTable('vault_authorization_links')
      .set({
        state_hash: sha256(state),
        code_verifier_ciphertext: this.deps.envelope.seal(verifier, verifierContext(link.id)),
        browser_hash: hashSecret(browserCookie),
        started_at: isoAt(this.deps.clock),
      })
      .where('id', '=', link.id)
      .where('started_at', 'is', null)
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) throw new VaultLinkError('This link was already used. Ask for a new one.');
    const { provider } = connection;
    const url = new URL(provider.authorizationUrl);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', connection.row.client_id);
    url.searchParams.set('redirect_uri', this.callbackUrl);
    url.searchParams.set(provider.scopeParam ?? 'scope', link.scopes.split(' ').join(provider.scopeSeparator));
    url.searchParams.set('state', state);
    if (provider.pkce) {
      url.searchParams.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'));
      url.searchParams.set('code_challenge_method', 'S256');
    }
    for (const [name, value] of Object.entries(provider.authorizationParams ?? {})) url.searchParams.set(name, value);
    return { redirect: url.toString(), browserCookie };
  }

  /** The provider sent the browser back: exchange the code once, store the tokens sealed. */
  async callback(
    query: { code?: string | undefined; state?: string | undefined; error?: string | undefined },
    browserCookie: string | undefined,
    context: AuditContext,
  ): Promise<{ connection: string; provider: string }> {
    if (!query.state) throw new VaultLinkError('The provider did not return to Mandate correctly (no state).');
    const link = await this.deps.store.db
      .selectFrom('vault_authorization_links')
      .selectAll()
      .where('state_hash', '=', sha256(query.state))
      .executeTakeFirst();
    if (!link || link.completed_at || link.expires_at <= isoAt(this.deps.clock))
      throw new VaultLinkError('This authorization is not valid any more. Ask for a new link.');
    if (!browserCookie || !link.browser_hash || !secretMatches(browserCookie, link.browser_hash))
      throw new VaultLinkError('Finish connecting in the browser that opened the link.');
    const connection = await this.deps.connections.resolveById(link.connection_id);
    const owner: AccountOwner = { orgId: link.org_id, identifier: link.identifier };
    if (query.error || !query.code) {
      await this.completeLink(this.deps.store.db, link.id);
      throw new VaultLinkError(`The provider did not grant access (${query.error ?? 'no code'}).`);
    }
    const verifier = link.code_verifier_ciphertext
      ? this.deps.envelope.open(link.code_verifier_ciphertext, verifierContext(link.id))
      : null;
    let tokens: ProviderTokens;
    try {
      tokens = await exchangeCode(
        connection,
        { code: query.code, redirectUri: this.callbackUrl, codeVerifier: verifier },
        this.callOptions,
      );
    } catch (error) {
      await this.completeLink(this.deps.store.db, link.id);
      throw new VaultLinkError(`The provider refused the connection: ${error instanceof Error ? error.message : 'error'}.`);
    }
    await inTransaction(this.deps.store, async (trx) => {
      if (!(await this.completeLink(trx, link.id))) throw new VaultLinkError('This authorization was already completed.');
      const account = await this.account(trx, connection.row.id, link.identifier);
      if (!account) throw new NotFoundError('connected account');
      const at = isoAt(this.deps.clock);
      await trx
        .updateTable('connected_accounts')
        .set({
          status: 'active',
          scopes: tokens.scope ?? link.scopes,
          ...this.sealed(account.id, tokens, null),
          last_error: null,
          updated_at: at,
        })
        .where('id', '=', account.id)
        .execute();
      await this.deps.audit.append(
        trx,
        {
          ...this.trail(owner),
          kind: 'vault.connected',
          tool: connection.provider.name,
          detail: { connection: connection.row.name, scopes: tokens.scope ?? link.scopes },
        },
        context,
      );
    });
    return { connection: connection.row.name, provider: connection.provider.displayName };
  }

  async status(owner: AccountOwner, connectionName: string): Promise<AccountView> {
    const connection = await this.deps.connections.resolve(owner.orgId, connectionName);
    const account = await this.account(this.deps.store.db, connection.row.id, owner.identifier);
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
    let account = await this.account(this.deps.store.db, connection.row.id, owner.identifier);
    if (!account) throw new NotFoundError('connected account');
    if (account.status !== 'active') throw accountUnusable(account.status);
    if (this.expiring(account)) account = await this.refreshOnce(connection, account, owner, context);
    if (!account.access_token_ciphertext) throw accountUnusable(account.status);
    await this.resealIfOld(account);
    await this.deps.auditBatcher.record(
      {
        ...this.trail(owner),
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
    const account = await this.account(this.deps.store.db, connection.row.id, owner.identifier);
    if (!account) throw new NotFoundError('connected account');
    let revoked = false;
    for (const [column, hint] of [
      ['refresh_token_ciphertext', 'refresh_token'],
      ['access_token_ciphertext', 'access_token'],
    ] as const) {
      const sealed = account[column];
      if (sealed)
        revoked =
          (await revokeAtProvider(
            connection,
            this.deps.envelope.open(sealed, tokenContext(account.id, hint === 'access_token' ? 'access' : 'refresh')),
            hint,
            this.callOptions,
          )) || revoked;
    }
    const at = isoAt(this.deps.clock);
    const updated = await inTransaction(this.deps.store, async (trx) => {
      await trx
        .updateTable('connected_accounts')
        .set({ status: 'revoked', access_token_ciphertext: null, refresh_token_ciphertext: null, expires_at: null, updated_at: at })
        .where('id', '=', account.id)
        .execute();
      await this.deps.audit.append(
        trx,
        {
          ...this.trail(owner),
          kind: 'vault.disconnected',
          tool: connection.provider.name,
          detail: { connection: connectionName, revoked_at_provider: revoked },
        },
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
    return view(updated, connection);
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
      const leased = await db
        .updateTable('connected_accounts')
        .set({
          refresh_lease_owner: this.nodeId,
          refresh_lease_until: new Date(this.deps.clock.now() + LEASE_SECONDS * 1000).toISOString(),
        })
        .where('id', '=', accountId)
        .where((eb) => eb.or([eb('refresh_lease_until', 'is', null), eb('refresh_lease_until', '<', now)]))
        .executeTakeFirst();
      const current = await this.account(db, connection.row.id, owner.identifier);
      if (!current) throw new NotFoundError('connected account');
      if (Number(leased.numUpdatedRows) === 1) {
        // Another node may have refreshed between our read and the lease.
        if (current.status === 'active' && !this.expiring(current)) return this.releaseLease(current);
        return this.refreshHeld(connection, current, owner, context);
      }
      if (current.status !== 'active') throw accountUnusable(current.status);
      if (!this.expiring(current)) return current;
      if (Date.now() > deadline) throw new ApiError('server_error', 'the refresh of this account did not finish in time');
      await new Promise((resolve) => setTimeout(resolve, LEASE_POLL_MS));
    }
  }

  private async refreshHeld(
    connection: ResolvedConnection,
    account: ConnectedAccountsTable,
    owner: AccountOwner,
    context: AuditContext,
  ): Promise<ConnectedAccountsTable> {
    const at = isoAt(this.deps.clock);
    const trail = { ...this.trail(owner), tool: connection.provider.name, detail: { connection: connection.row.name } };
    if (!account.refresh_token_ciphertext) {
      // Nothing to refresh with: the token simply ran out.
      await this.deps.store.db
        .updateTable('connected_accounts')
        .set({ status: 'expired', refresh_lease_owner: null, refresh_lease_until: null, updated_at: at })
        .where('id', '=', account.id)
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
      if (error instanceof ProviderRefusedError) {
        await this.markReauthorization(account, `${error.code}: ${error.message}`.slice(0, 300), trail, context);
        throw accountUnusable('reauthorization_required');
      }
      await this.releaseLease(account);
      throw new ApiError(
        'server_error',
        `the provider could not refresh the token: ${error instanceof ProviderUnavailableError ? error.message : 'error'}`,
      );
    }
    return inTransaction(this.deps.store, async (trx) => {
      const changes = {
        status: 'active' as const,
        ...this.sealed(account.id, tokens, account.refresh_token_ciphertext),
        ...(tokens.scope && { scopes: tokens.scope }),
        last_refreshed_at: at,
        last_error: null,
        refresh_lease_owner: null,
        refresh_lease_until: null,
        updated_at: at,
      };
      await trx.updateTable('connected_accounts').set(changes).where('id', '=', account.id).execute();
      await this.deps.audit.append(
        trx,
        { ...trail, kind: 'vault.refreshed', detail: { ...trail.detail, rotated: Boolean(tokens.refreshToken) } },
        context,
      );
      return { ...account, ...changes };
    });
  }

  private async markReauthorization(
    account: ConnectedAccountsTable,
    reason: string,
    trail: ReturnType<ConnectedAccounts['trail']> & { tool: string; detail: Record<string, unknown> },
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

  private async releaseLease(account: ConnectedAccountsTable): Promise<ConnectedAccountsTable> {
    await this.deps.store.db
      .updateTable('connected_accounts')
      .set({ refresh_lease_owner: null, refresh_lease_until: null })
      .where('id', '=', account.id)
      .where('refresh_lease_owner', '=', this.nodeId)
      .execute();
    return { ...account, refresh_lease_owner: null, refresh_lease_until: null };
  }

  private sealed(accountId: string, tokens: ProviderTokens, previousRefresh: string | null) {
    return {
      access_token_ciphertext: this.deps.envelope.seal(tokens.accessToken, tokenContext(accountId, 'access')),
      // Rotating providers send a new refresh token that replaces the old; others keep the old one.
      refresh_token_ciphertext: tokens.refreshToken
        ? this.deps.envelope.seal(tokens.refreshToken, tokenContext(accountId, 'refresh'))
        : previousRefresh,
      expires_at: tokens.expiresIn ? new Date(this.deps.clock.now() + tokens.expiresIn * 1000).toISOString() : null,
      last_refreshed_at: isoAt(this.deps.clock),
    };
  }

  private async completeLink(trx: Executor, linkId: string): Promise<boolean> {
    const done = await trx
      .updateTable('vault_authorization_links')
      .set({ completed_at: isoAt(this.deps.clock) })
      .where('id', '=', linkId)
      .where('completed_at', 'is', null)
      .executeTakeFirst();
    return Number(done.numUpdatedRows) === 1;
  }

  private async account(trx: Executor, connectionId: string, identifier: string): Promise<ConnectedAccountsTable | undefined> {
    return trx
      .selectFrom('connected_accounts')
      .selectAll()
      .where('connection_id', '=', connectionId)
      .where('identifier', '=', identifier)
      .executeTakeFirst();
  }

  private trail(owner: AccountOwner) {
    return {
      orgId: owner.orgId,
      subjectId: owner.identifier,
      ...(owner.agentId && { agentId: owner.agentId, actorId: owner.agentId }),
      grantId: owner.grantId ?? null,
      jti: owner.jti ?? null,
    };
  }
}

function view(account: ConnectedAccountsTable, connection: ResolvedConnection): AccountView {
  return {
    id: account.id,
    connection: connection.row.name,
    provider: connection.provider.name,
    identifier: account.identifier,
    status: account.status,
    scopes: account.scopes.split(' ').filter(Boolean),
    expires_at: account.expires_at,
    last_refreshed_at: account.last_refreshed_at,
  };
}

/** Why an account gives no token, as the error agents handle (`reauthorization_required` → send a new link). */
export function accountUnusable(status: ConnectedAccountsTable['status']): ApiError {
  if (status === 'reauthorization_required')
    return new ApiError(
      'reauthorization_required',
      'the provider refused to refresh this account: the user must connect it again through a new authorization link',
    );
  if (status === 'pending') return new ApiError('conflict', 'the user has not finished connecting this account yet');
  if (status === 'expired')
    return new ApiError(
      'reauthorization_required',
      'the access token expired and the provider issued no refresh token: the user must connect the account again',
    );
  return new ApiError('conflict', `the connected account is ${status}`);
}
