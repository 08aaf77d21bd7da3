import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { GroupRoles } from '../authz/group-roles.js';
import { MandateError, NotFoundError } from '../errors.js';
import type { IssuedSession, SessionClient, Sessions } from '../sessions/sessions.js';
import type { OrganizationsTable, SsoConnectionsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import type { LoginPolicy } from '../tenancy/login-policy.js';
import { type Organizations, settingsOf } from '../tenancy/organizations.js';
import type { SsoConnections, UsableConnection } from './connections.js';
import { newOpaqueValue, type SsoLoginStates, type SsoRelay } from './login-states.js';
import { type SsoCallback, type SsoRedirect, SsoRejected } from './protocol.js';
import type { SsoProvisioning } from './provisioning.js';

export interface SsoLoginDeps {
  store: Store;
  audit: AuditLog;
  organizations: Organizations;
  connections: SsoConnections;
  states: SsoLoginStates;
  provisioning: SsoProvisioning;
  loginPolicy: LoginPolicy;
  groupRoles: GroupRoles;
  sessions: Sessions;
}

/** Who is signing in, as far as the sign-in page knows: a connection, an email, or an organization. */
export interface SsoTarget {
  connection?: string | undefined;
  email?: string | undefined;
  /** Organization id or slug; with an email, the email's connection must belong to it. */
  organization?: string | undefined;
}

export type SsoStarted =
  | { kind: 'send'; send: SsoRedirect; browserSecret: string }
  /** The organization has several identity providers: the page asks for the email to pick one. */
  | { kind: 'ask_email'; organization: { slug: string; name: string } };

export interface SsoFinished {
  issued: IssuedSession;
  relay: SsoRelay;
}

/** Thrown when no connection fits what the person typed; shown on the sign-in page. */
export class SsoNotConfigured extends MandateError {
  constructor(description: string) {
    super('not_found', description);
  }
}

/**
 * SSO login from the browser's side, for every protocol: pick the connection, start a
 * browser-bound round trip, and on the IdP's answer consume it, let the protocol verify the
 * answer, provision the member, apply the organization's policy, follow the IdP's groups and
 * start the session. Refusals are audited (`sso.login_refused`) with the failed check only.
 */
export class SsoLogin {
  constructor(private readonly deps: SsoLoginDeps) {}

  /**
   * A fresh browser-binding secret for every start, never the cookie the browser already has: a
   * value planted in the browser (cookie tossing from a sibling host) must not bind its logins.
   * The cookie holds the newest secret, so a second tab's start invalidates the first tab's.
   */
  async start(target: SsoTarget, relay: SsoRelay): Promise<SsoStarted> {
    const picked = await this.pick(target);
    if (picked.kind === 'ask_email') return picked;
    const connection = await this.deps.connections.resolve(picked.row.id);
    if (connection?.row.status !== 'active') throw new SsoNotConfigured('This sign-in method is not available.');
    const org = await this.deps.organizations.require(connection.row.org_id);
    this.deps.loginPolicy.assertAllowed(settingsOf(org), 'sso');
    const secret = newOpaqueValue();
    const state = newOpaqueValue();
    const begun = await connection.protocol.begin(connection, state);
    await this.deps.states.create(state, {
      connectionId: connection.row.id,
      orgId: org.id,
      relay,
      browserSecret: secret,
      nonce: begun.nonce,
      codeVerifier: begun.codeVerifier,
      requestId: begun.requestId,
    });
    return { kind: 'send', send: begun.send, browserSecret: secret };
  }

  /**
   * The identity provider's answer at the connection's callback. The login state is consumed
   * first (single use); the protocol's checks run outside any transaction (they may call the
   * IdP); provisioning, policy, group sync and the session then commit together.
   */
  async finish(
    connectionId: string,
    callback: SsoCallback,
    browserSecret: string | undefined,
    context: AuditContext,
    client: SessionClient = {},
  ): Promise<SsoFinished> {
    const connection = await this.deps.connections.resolve(connectionId);
    if (!connection) throw new NotFoundError('SSO connection');
    try {
      const state = callback.query.state ?? callback.body.RelayState;
      const consumed = await this.deps.states.consume(connectionId, state, browserSecret);
      if (connection.row.status !== 'active') throw new SsoRejected('the connection is disabled');
      const identity = await connection.protocol.complete(connection, callback, consumed.pending);
      const { issued, rolesChanged } = await inTransaction(this.deps.store, async (trx) => {
        await this.assertStillActive(trx, connectionId);
        const org = await this.deps.organizations.require(connection.row.org_id, trx);
        this.deps.loginPolicy.assertAllowed(settingsOf(org), 'sso');
        const { member, matched } = await this.deps.provisioning.provisionWithin(trx, org, connection.row, identity, context);
        const followGroups = identity.groupsAsserted !== false && (await this.deps.groupRoles.groupSource(trx, org.id)) === 'sso';
        const rolesChanged = followGroups && (await this.deps.groupRoles.syncWithin(trx, org.id, member.id, identity.groups, context));
        const issued = await this.deps.sessions.startWithin(
          trx,
          {
            org,
            member,
            amr: ['sso'],
            connectionId,
            detail: { ...identity.detail, connection: connectionId, idp_subject: identity.subject, matched },
            client,
          },
          context,
        );
        return { issued, rolesChanged };
      });
      if (rolesChanged) await this.deps.groupRoles.announce(connection.row.org_id);
      return { issued, relay: consumed.relay };
    } catch (error) {
      if (error instanceof MandateError) await this.refuse(connection, error, context);
      throw error;
    }
  }

  async purgeExpired(): Promise<void> {
    await this.deps.states.purgeExpired();
  }

  private async pick(
    target: SsoTarget,
  ): Promise<{ kind: 'connection'; row: SsoConnectionsTable } | Extract<SsoStarted, { kind: 'ask_email' }>> {
    const { connections } = this.deps;
    if (target.connection) {
      const usable = await connections.resolve(target.connection);
      if (!usable) throw new SsoNotConfigured('This sign-in method does not exist.');
      return { kind: 'connection', row: usable.row };
    }
    const org = target.organization ? await this.organization(target.organization) : undefined;
    if (target.email) {
      const email = target.email.trim().toLowerCase();
      const domain = /^[^@\s]+@([^@\s]+)$/.exec(email)?.[1];
      if (!domain) throw new SsoNotConfigured('Enter your work email address.');
      const row = await connections.forDomain(domain);
      if (!row || (org && row.org_id !== org.id)) {
        throw new SsoNotConfigured(
          `No organization signs in with ${domain} addresses here. Ask your administrator, or sign in with your organization’s name.`,
        );
      }
      return { kind: 'connection', row };
    }
    if (!org) throw new SsoNotConfigured('Enter your work email or your organization.');
    const active = await connections.activeFor(org.id);
    const [only] = active;
    if (!only) throw new SsoNotConfigured(`${org.name} has no single sign-on set up in Mandate.`);
    if (active.length > 1) return { kind: 'ask_email', organization: { slug: org.slug, name: org.name } };
    return { kind: 'connection', row: only };
  }

  private async organization(ref: string): Promise<OrganizationsTable> {
    return this.deps.organizations.require(ref.trim().toLowerCase()).catch(() => {
      throw new SsoNotConfigured('No organization has that name. Check it with your administrator.');
    });
  }

  /**
   * The connection may have been disabled while the IdP answered: read again in the login's
   * transaction, locked against the disabling one (PostgreSQL), which then ends this session too.
   */
  private async assertStillActive(trx: Executor, connectionId: string): Promise<void> {
    let query = trx.selectFrom('sso_connections').select('status').where('id', '=', connectionId);
    if (this.deps.store.dialect === 'postgres') query = query.forShare();
    const current = await query.executeTakeFirst();
    if (current?.status !== 'active') throw new SsoRejected('the connection is disabled');
  }

  private async refuse(connection: UsableConnection, error: MandateError, context: AuditContext): Promise<void> {
    const reason = error instanceof SsoRejected ? error.reason : error.description;
    await inTransaction(this.deps.store, (trx) =>
      this.deps.audit.append(
        trx,
        {
          kind: 'sso.login_refused',
          orgId: connection.row.org_id,
          result: 'failure',
          errorCode: error.code,
          detail: { connection: connection.row.id, protocol: connection.row.protocol, reason },
        },
        context,
      ),
    );
  }
}
