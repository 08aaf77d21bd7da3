import type { Executor } from '../store/transaction.js';

/**
 * Cluster events: what one node changes that every node's caches must learn at once
 * (docs/architecture.md §8, §10). Nothing carried here is authoritative; a receiver re-reads the database.
 */
export interface ClusterEvents {
  /** Signing keys changed (rotation): reload the key ring and JWKS. */
  'signing_keys.changed': { kid: string };
  /** A resource server's registration changed: drop it from caches. */
  'resources.changed': { identifier: string };
  /** A client, or its secrets, changed: drop it from caches. */
  'clients.changed': { id: string };
  /** An organization was created, renamed, changed or deleted: drop cached rows (tenancy/organizations.ts). */
  'organizations.changed': { id: string };
  /** An admin API key was revoked: drop cached keys (admin-keys/admin-keys.ts). */
  'admin_keys.changed': { id: string };
  /** RFC 7009: an access token was revoked; refuse its jti until `exp` (seconds). */
  'access_token.revoked': { jti: string; exp: number };
  /** A grant (consent) was revoked: every token derived from it is dead. */
  'grant.revoked': { id: string };
  /** A member or agent was stopped or let act again: the kill switch must act everywhere (tenancy/principal-stops.ts). */
  'principal.changed': { id: string; stoppedAt: string; lifted: boolean };
  /** An agent's registry entry changed (its tools, classification ceiling, environment): drop cached limits. */
  'agents.changed': { id: string };
  /** Roles, their permissions or bindings changed in an organization: drop cached permission sets. */
  'roles.changed': { orgId: string };
  /** An organization uploaded a new version of its Cedar policies. */
  'policies.changed': { orgId: string };
  /** After a restore: every credential issued before `fencedAt` is refused (consent/restore-fence.ts). */
  'credentials.fenced': { fencedAt: string };
  /**
   * This node may have missed events (its wake-up connection dropped, or the outbox no longer
   * holds what it last read): reload everything liveness reads. Delivered on this node only.
   */
  'bus.resynced': Record<string, never>;
}

export type Topic = keyof ClusterEvents;
export type Handler<T extends Topic> = (payload: ClusterEvents[T]) => void | Promise<void>;

/** Topics a node raises for itself; they are never written to the outbox. */
export const LOCAL_TOPICS: ReadonlySet<Topic> = new Set<Topic>(['bus.resynced']);

export interface EventBus {
  /**
   * Writes the event into the outbox inside the caller's transaction (docs/architecture.md §10):
   * every node learns of it if and only if the change commits, even if this process dies right
   * after. This node's handlers run once the transaction has committed.
   */
  record<T extends Topic>(trx: Executor, topic: T, payload: ClusterEvents[T]): Promise<void>;
  /**
   * Records the event on its own, for a change that has already committed (cache invalidations);
   * resolves once this node's handlers have started. A local topic is only delivered here.
   */
  publish<T extends Topic>(topic: T, payload: ClusterEvents[T]): Promise<void>;
  /** Returns a function that unsubscribes. */
  subscribe<T extends Topic>(topic: T, handler: Handler<T>): () => void;
  close(): Promise<void>;
}
