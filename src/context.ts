/**
 * Who asked and under which request: taken from a request at the edge (http/request-context.ts)
 * and carried into every audit event a change records. It sits at the root, below every layer,
 * because code under the audit layer (the key ring) records events too (docs/architecture.md §2).
 */
export interface AuditContext {
  requestId?: string | null;
  correlationId?: string | null;
  /** The authenticated caller (admin key, member, agent) unless the event names another actor. */
  actorId?: string | null;
  /** The address the request came from (as Fastify's trustProxy setting sees it). */
  clientIp?: string | null;
  /** Set when the request ran under an impersonation session: the member impersonating (the actor is them, never the impersonated). */
  impersonatorId?: string | null;
}
