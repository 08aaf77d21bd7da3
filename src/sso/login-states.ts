import { randomBytes } from 'node:crypto';
import { type Clock, isoAt } from '../clock.js';
import { hashSecret, secretMatches } from '../crypto/secret-token.js';
import type { SsoLoginStatesTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import type { PendingSsoLogin } from './protocol.js';
import { SsoRejected } from './protocol.js';

/** How long a person has at their identity provider before the round trip expires. */
const LOGIN_STATE_TTL_SECONDS = 600;

/** Where the browser goes once signed in: back into an authorization request, or a path on Mandate. */
export type SsoRelay = { request: string } | { return_to: string };

export interface NewLoginState {
  connectionId: string;
  orgId: string;
  relay: SsoRelay;
  /** The browser's `mandate_sso` cookie; only its SHA-256 is stored. */
  browserSecret: string;
  nonce?: string | undefined;
  codeVerifier?: string | undefined;
  requestId?: string | undefined;
}

export interface ConsumedLoginState {
  pending: PendingSsoLogin;
  relay: SsoRelay;
  orgId: string;
}

/** 256 random bits, base64url: an SSO `state` (RelayState) or a browser binding cookie. */
export function newOpaqueValue(): string {
  return randomBytes(32).toString('base64url');
}

export interface SsoLoginStatesDeps {
  store: Store;
  clock: Clock;
}

/**
 * SSO round trips in flight. The `state` travels through the IdP and comes back; only its
 * SHA-256 is stored, so a database reader cannot complete someone's login. Each state is single
 * use and bound to the browser that started it (login CSRF: an attacker's IdP answer cannot sign
 * a victim into the attacker's account).
 */
export class SsoLoginStates {
  constructor(private readonly deps: SsoLoginStatesDeps) {}

  /** Stores a new round trip for `state`. */
  async create(state: string, input: NewLoginState): Promise<void> {
    const now = this.deps.clock.now();
    const row: SsoLoginStatesTable = {
      state_hash: hashSecret(state),
      connection_id: input.connectionId,
      org_id: input.orgId,
      nonce: input.nonce ?? null,
      code_verifier: input.codeVerifier ?? null,
      request_id: input.requestId ?? null,
      relay: JSON.stringify(input.relay),
      browser_hash: hashSecret(input.browserSecret),
      created_at: isoAt(this.deps.clock),
      expires_at: new Date(now + LOGIN_STATE_TTL_SECONDS * 1000).toISOString(),
      consumed_at: null,
    };
    await this.deps.store.db.insertInto('sso_login_states').values(row).execute();
  }

  /**
   * Consumes the round trip `state` names on `connectionId`, in one transaction: it must exist,
   * be unexpired and unused, and come back to the browser that started it. A replayed callback
   * finds it consumed.
   */
  async consume(connectionId: string, state: string | undefined, browserSecret: string | undefined): Promise<ConsumedLoginState> {
    if (!state || state.length > 512) throw new SsoRejected('the answer carries no login state');
    const now = isoAt(this.deps.clock);
    return inTransaction(this.deps.store, async (trx) => {
      const row = await trx.selectFrom('sso_login_states').selectAll().where('state_hash', '=', hashSecret(state)).executeTakeFirst();
      if (!row || row.connection_id !== connectionId) throw new SsoRejected('unknown login state');
      if (row.consumed_at) throw new SsoRejected('the login state was already used');
      if (row.expires_at <= now) throw new SsoRejected('the login state has expired');
      if (!browserSecret || !secretMatches(browserSecret, row.browser_hash)) {
        throw new SsoRejected('the login did not start in this browser');
      }
      const consumed = await trx
        .updateTable('sso_login_states')
        .set({ consumed_at: now })
        .where('state_hash', '=', row.state_hash)
        .where('consumed_at', 'is', null)
        .executeTakeFirst();
      if (Number(consumed.numUpdatedRows) !== 1) throw new SsoRejected('the login state was already used');
      return {
        pending: { state, nonce: row.nonce, codeVerifier: row.code_verifier, requestId: row.request_id },
        relay: JSON.parse(row.relay) as SsoRelay,
        orgId: row.org_id,
      };
    });
  }

  /** Deletes round trips that ended or expired more than a day ago. */
  async purgeExpired(): Promise<void> {
    const cutoff = new Date(this.deps.clock.now() - 86_400_000).toISOString();
    await this.deps.store.db.deleteFrom('sso_login_states').where('expires_at', '<', cutoff).execute();
  }
}
