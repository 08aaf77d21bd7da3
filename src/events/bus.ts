/**
 * Cluster events: what one node changes that every node's caches must learn at once
 * (docs/architecture.md §8). Nothing carried here is authoritative; a receiver re-reads the database.
 */
export interface ClusterEvents {
  /** Signing keys changed (rotation): reload the key ring and JWKS. */
  'signing_keys.changed': { kid: string };
  /** A resource server's registration changed: drop it from caches. */
  'resources.changed': { identifier: string };
  /** A client, or its secrets, changed: drop it from caches. */
  'clients.changed': { id: string };
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
  /** The bus lost and regained its connection: events may have been missed, reload everything. */
  'bus.resynced': Record<string, never>;
}

export type Topic = keyof ClusterEvents;
export type Handler<T extends Topic> = (payload: ClusterEvents[T]) => void | Promise<void>;

export interface EventBus {
  /** Delivers to every node, this one included. Resolves once the message is handed to the transport. */
  publish<T extends Topic>(topic: T, payload: ClusterEvents[T]): Promise<void>;
  /** Returns a function that unsubscribes. */
  subscribe<T extends Topic>(topic: T, handler: Handler<T>): () => void;
  close(): Promise<void>;
}
