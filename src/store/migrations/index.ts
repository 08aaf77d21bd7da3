import type { Migration } from 'kysely';
import * as foundation from './0001-foundation.js';
import * as oauthClients from './0002-oauth-clients.js';
import * as authorizationCode from './0003-authorization-code.js';
import * as clientRegistration from './0004-client-registration.js';
import * as assertionsAndPar from './0005-client-assertions-and-par.js';
import * as agents from './0006-agents.js';
import * as roles from './0007-roles.js';
import * as elevations from './0008-elevations.js';
import * as policies from './0009-policies.js';
import * as agentUsage from './0010-agent-usage.js';
import * as auditTrail from './0011-audit-trail.js';
import * as auditSinks from './0012-audit-sinks.js';
import * as vault from './0013-vault.js';
import * as approvals from './0014-approvals.js';
import * as anomaly from './0015-anomaly.js';
import * as auditClientIp from './0016-audit-client-ip.js';
import * as enterpriseIdentity from './0017-enterprise-identity.js';
import * as principalStops from './0018-principal-stops.js';
import * as refreshReuse from './0019-refresh-reuse.js';
import * as breakGlassThrottles from './0020-break-glass-throttles.js';
import * as elevationBounds from './0021-elevation-bounds.js';
import * as resourceCredentials from './0022-resource-credentials.js';
import * as eventOutbox from './0023-event-outbox.js';
import * as counters from './0024-counters.js';

/** Every migration, in order. One set for SQLite and PostgreSQL; names never change once released. */
export const migrations: Record<string, Migration> = {
  '0001-foundation': foundation,
  '0002-oauth-clients': oauthClients,
  '0003-authorization-code': authorizationCode,
  '0004-client-registration': clientRegistration,
  '0005-client-assertions-and-par': assertionsAndPar,
  '0006-agents': agents,
  '0007-roles': roles,
  '0008-elevations': elevations,
  '0009-policies': policies,
  '0010-agent-usage': agentUsage,
  '0011-audit-trail': auditTrail,
  '0012-audit-sinks': auditSinks,
  '0013-vault': vault,
  '0014-approvals': approvals,
  '0015-anomaly': anomaly,
  '0016-audit-client-ip': auditClientIp,
  '0017-enterprise-identity': enterpriseIdentity,
  '0018-principal-stops': principalStops,
  '0019-refresh-reuse': refreshReuse,
  '0020-break-glass-throttles': breakGlassThrottles,
  '0021-elevation-bounds': elevationBounds,
  '0022-resource-credentials': resourceCredentials,
  '0023-event-outbox': eventOutbox,
  '0024-counters': counters,
};
