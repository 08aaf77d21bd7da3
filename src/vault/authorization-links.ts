import { createHash, randomBytes } from 'node:crypto';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import type { Envelope } from '../crypto/envelope.js';
import { newId } from '../crypto/ids.js';
import { hashSecret, newSecret, secretMatches } from '../crypto/secret-token.js';
import { InvalidRequestError, NotFoundError } from '../errors.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import { type AccountOwner, accountTrail, findAccount, sealTokens, tokenContext } from './account-records.js';
import type { Connections, ResolvedConnection } from './connections.js';
import { exchangeCode, revokeAtProvider } from './provider-client.js';
import type { ProviderTokens } from './providers/types.js';

/** A link or callback the user's browser brought that Mandate cannot complete; `status` for the page. */
export class VaultLinkError extends Error {
  override name = 'VaultLinkError';
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const LINK_TTL_SECONDS = 600;
const verifierContext = (linkId: string) => `vault_authorization_links:${linkId}`;

/**
 * Authorization links: the agent asks for one, the user opens it, Mandate sends the browser to the
 * provider with `state` and PKCE, and the provider's callback is exchanged once for tokens that are
 * stored sealed. Only the SHA-256 of links, states and browser bindings is stored.
 */
export class AuthorizationLinks {
  constructor(
    private readonly deps: {
      store: Store;
      connections: Connections;
      audit: AuditLog;
      envelope: Envelope;
      clock: Clock;
      issuer: string;
      allowLoopback: boolean;
    },
  ) {}

  /**
   * One redirect URI per connection (RFC 9700 §4.4.2, mix-up defence): a code returned for one
   * connection can never be redeemed at another connection's token endpoint.
   */
  callbackUrl(connectionId: string): string {
    return `${this.deps.issuer}/vault/callback/${connectionId}`;
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
          ...accountTrail(owner),
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
   * injected into someone else's link. Only the user the link is for, signed in to Mandate, may
   * open it: an agent (or a colleague) cannot complete a link with their own provider account,
   * nor have someone else's browser complete theirs. A link opened without that session is not
   * consumed (a chat unfurler or mail scanner cannot burn it).
   */
  async start(
    token: string,
    session: { orgId: string; memberId: string } | undefined,
  ): Promise<{ redirect: string; browserCookie: string }> {
    const link = await this.deps.store.db
      .selectFrom('vault_authorization_links')
      .selectAll()
      .where('id', '=', hashSecret(token))
      .executeTakeFirst();
    if (!link || link.expires_at <= isoAt(this.deps.clock))
      throw new VaultLinkError('This link is not valid or has expired. Ask for a new one.');
    if (!session) throw new VaultLinkError('Sign in to your organization’s app first, then open this link again.', 401);
    if (session.orgId !== link.org_id || session.memberId !== link.identifier)
      throw new VaultLinkError('This link is for another user: only they can connect their account with it.', 403);
    const connection = await this.deps.connections.resolveById(link.connection_id);
    const state = newSecret('mnd_vs_');
    const verifier = randomBytes(32).toString('base64url');
    const browserCookie = randomBytes(32).toString('base64url');
    const claimed = await this.deps.store.db
      .updateTable('vault_authorization_links')
      .set({
        state_hash: hashSecret(state),
        code_verifier_ciphertext: this.deps.envelope.seal(verifier, verifierContext(link.id)),
        browser_hash: hashSecret(browserCookie),
        started_at: isoAt(this.deps.clock),
      })
      .where('id', '=', link.id)
      .where('started_at', 'is', null)
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) throw new VaultLinkError('This link was already used. Ask for a new one.');
    await this.retireTokens(connection, link);
    const { provider } = connection;
    const url = new URL(provider.authorizationUrl);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', connection.row.client_id);
    url.searchParams.set('redirect_uri', this.callbackUrl(connection.row.id));
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
    connectionId: string,
    query: { code?: string | undefined; state?: string | undefined; error?: string | undefined },
    browserCookie: string | undefined,
    context: AuditContext,
  ): Promise<{ connection: string; provider: string }> {
    if (!query.state) throw new VaultLinkError('The provider did not return to Mandate correctly (no state).');
    const link = await this.deps.store.db
      .selectFrom('vault_authorization_links')
      .selectAll()
      .where('state_hash', '=', hashSecret(query.state))
      .executeTakeFirst();
    if (!link || link.completed_at || link.expires_at <= isoAt(this.deps.clock) || link.connection_id !== connectionId)
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
        { code: query.code, redirectUri: this.callbackUrl(connection.row.id), codeVerifier: verifier },
        { allowLoopback: this.deps.allowLoopback },
      );
    } catch (error) {
      await this.completeLink(this.deps.store.db, link.id);
      throw new VaultLinkError(`The provider refused the connection: ${error instanceof Error ? error.message : 'error'}.`);
    }
    await inTransaction(this.deps.store, async (trx) => {
      if (!(await this.completeLink(trx, link.id))) throw new VaultLinkError('This authorization was already completed.');
      const account = await findAccount(trx, connection.row.id, link.identifier);
      if (!account) throw new NotFoundError('connected account');
      const at = isoAt(this.deps.clock);
      await trx
        .updateTable('connected_accounts')
        .set({
          status: 'active',
          scopes: tokens.scope ?? link.scopes,
          ...sealTokens(this.deps.envelope, this.deps.clock, account.id, tokens, null),
          last_error: null,
          updated_at: at,
        })
        .where('id', '=', account.id)
        .execute();
      await this.deps.audit.append(
        trx,
        {
          ...accountTrail(owner),
          kind: 'vault.connected',
          tool: connection.provider.name,
          detail: { connection: connection.row.name, scopes: tokens.scope ?? link.scopes },
        },
        context,
      );
    });
    return { connection: connection.row.name, provider: connection.provider.displayName };
  }

  /**
   * Reconnecting: the account's current tokens are revoked at the provider before the user
   * authorizes again, never after the new code is redeemed. A provider may issue the new code under
   * the grant the user already gave, and revoking any token of a grant may revoke all of it
   * (RFC 7009 §2.1; oidc-provider and Google do), which would kill the new tokens with the old.
   * Mandate drops them first, and the account reads `pending` until the callback: a refresh in
   * flight then cannot write them back (it writes only to an active account).
   */
  private async retireTokens(connection: ResolvedConnection, link: { connection_id: string; identifier: string }): Promise<void> {
    const retired = await inTransaction(this.deps.store, async (trx) => {
      const account = await findAccount(trx, link.connection_id, link.identifier);
      if (!account || (!account.access_token_ciphertext && !account.refresh_token_ciphertext)) return undefined;
      await trx
        .updateTable('connected_accounts')
        .set({
          status: 'pending',
          access_token_ciphertext: null,
          refresh_token_ciphertext: null,
          expires_at: null,
          updated_at: isoAt(this.deps.clock),
        })
        .where('id', '=', account.id)
        .execute();
      return account;
    });
    if (!retired) return;
    for (const [sealed, kind] of [
      [retired.refresh_token_ciphertext, 'refresh'],
      [retired.access_token_ciphertext, 'access'],
    ] as const) {
      if (sealed)
        await revokeAtProvider(connection, this.deps.envelope.open(sealed, tokenContext(retired.id, kind)), `${kind}_token`, {
          allowLoopback: this.deps.allowLoopback,
        });
    }
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
}
