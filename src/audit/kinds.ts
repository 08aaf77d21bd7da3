/**
 * The catalog of audit event kinds. A kind is `<subject>.<verb>`; the catalog grows with each
 * capability, and the README documents it.
 */
export const AUDIT_KINDS = [
  'organization.created',
  'organization.updated',
  'organization.deleted',
  'member.created',
  'member.updated',
  'member.deleted',
  'admin_key.created',
  'admin_key.revoked',
  'signing_key.created',
  'signing_key.rotated',
  'resource.created',
  'resource.updated',
  'resource.deleted',
  'client.created',
  'client.updated',
  'client.deleted',
  'client.secret_rotated',
  'token.issued',
  'token.revoked',
  'token.refreshed',
  'trusted_token_profile.created',
  'trusted_token_profile.deleted',
  'session.created',
  'session.revoked',
  'consent.granted',
  'consent.denied',
  'grant.revoked',
  'agent.created',
  'agent.updated',
  'agent.suspended',
  'agent.resumed',
  'agent.decommissioned',
  'role.created',
  'role.deleted',
  'role.bound',
  'role.unbound',
  'decision',
  'token.exchanged',
  'token.exchange_refused',
  'elevation.requested',
  'elevation.approved',
  'elevation.denied',
  'elevation.refused',
  'policies.updated',
  'token.refused',
] as const;

export type AuditKind = (typeof AUDIT_KINDS)[number];

/** The chain of events that belong to no organization (admin keys, signing keys). */
export const PLATFORM_CHAIN = 'platform';
