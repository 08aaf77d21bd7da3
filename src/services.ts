import { AdminKeys } from './admin-keys/admin-keys.js';
import { AuditLog } from './audit/audit-log.js';
import { AuditEvents } from './audit/store.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import type { Envelope } from './crypto/envelope.js';
import { KeyRing } from './crypto/key-ring.js';
import type { EventBus } from './events/bus.js';
import type { Store } from './store/store.js';
import { Members } from './tenancy/members.js';
import { Organizations } from './tenancy/organizations.js';

/** The capabilities' services, wired once from explicit dependencies (DESIGN.md §3.8). */
export interface Services {
  audit: AuditLog;
  auditEvents: AuditEvents;
  keyRing: KeyRing;
  adminKeys: AdminKeys;
  organizations: Organizations;
  members: Members;
}

export interface ServiceDeps {
  config: Config;
  store: Store;
  clock: Clock;
  envelope: Envelope;
  bus: EventBus;
}

/** Used by the HTTP app and by CLI commands alike, so both act through the same code. */
export function createServices({ config, store, clock, envelope, bus }: ServiceDeps): Services {
  const audit = new AuditLog(store.dialect, clock);
  const organizations = new Organizations(store, audit, clock);
  return {
    audit,
    auditEvents: new AuditEvents(store.db),
    keyRing: new KeyRing({ store, envelope, clock, audit, bus, alg: config.signingAlg, maxTokenTtlSeconds: config.accessTokenTtlSeconds }),
    adminKeys: new AdminKeys(store, audit, clock),
    organizations,
    members: new Members(store, organizations, audit, clock),
  };
}
