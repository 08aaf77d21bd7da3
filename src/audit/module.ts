import type { KeyRing } from '../crypto/key-ring.js';
import type { ModuleParts, Platform } from '../platform.js';
import { AuditLog } from './audit-log.js';
import { AuditBatcher } from './batcher.js';
import { auditIntegrityRoutes } from './checkpoint-routes.js';
import { AuditCheckpoints } from './checkpoints.js';
import { AuditExport } from './export.js';
import { AuditMaintenance } from './maintenance.js';
import type { OrganizationRefs } from './organization-refs.js';
import { AuditRetention } from './retention.js';
import { auditRoutes } from './routes.js';
import { SinkDelivery } from './sinks/delivery.js';
import { auditSinkRoutes } from './sinks/routes.js';
import { AuditSinks } from './sinks/sinks.js';
import { AuditEvents } from './store.js';
import { AuditVerifier } from './verify.js';

export interface AuditTrail {
  audit: AuditLog;
  /** Group commit for events that record no state change (audit/batcher.ts). */
  auditBatcher: AuditBatcher;
}

/**
 * The trail every capability appends to: built first, since everything records into it
 * (docs/architecture.md §7). The batcher is drained once the app takes no more requests.
 */
export function auditTrailModule({ store, clock }: Platform): ModuleParts<AuditTrail> {
  const audit = new AuditLog({ dialect: store.dialect, clock });
  const auditBatcher = new AuditBatcher({ store, audit });
  return { services: { audit, auditBatcher }, hooks: { drain: () => auditBatcher.drain() } };
}

export interface AuditModuleDeps {
  audit: AuditLog;
  keyRing: KeyRing;
  organizations: OrganizationRefs;
}

export interface AuditServices {
  auditEvents: AuditEvents;
  auditCheckpoints: AuditCheckpoints;
  auditExport: AuditExport;
  auditVerifier: AuditVerifier;
  auditRetention: AuditRetention;
  /** Signs checkpoints and applies retention on its own timer. */
  auditMaintenance: AuditMaintenance;
  auditSinks: AuditSinks;
  /** Streams audit chains to webhook sinks. */
  auditSinkDelivery: SinkDelivery;
}

/** Reading the trail: query, signed checkpoints, verification, export, retention, sinks. */
export function auditModule(platform: Platform, { audit, keyRing, organizations }: AuditModuleDeps): ModuleParts<AuditServices> {
  const { config, store, clock, envelope, logger, metrics } = platform;
  const allowLoopback = config.devAllowLoopbackFetch;
  const auditEvents = new AuditEvents(store.db);
  const auditCheckpoints = new AuditCheckpoints({ db: store.db, keyRing, clock, issuer: config.issuer });
  const auditExport = new AuditExport({ db: store.db, checkpoints: auditCheckpoints });
  const auditRetention = new AuditRetention({
    store,
    audit,
    checkpoints: auditCheckpoints,
    exporter: auditExport,
    clock,
    archiveDir: config.auditArchiveDir,
  });
  const auditMaintenance = new AuditMaintenance({
    checkpoints: auditCheckpoints,
    retention: auditRetention,
    clock,
    intervalSeconds: config.auditCheckpointIntervalSeconds,
    checkpointEvents: config.auditCheckpointEvents,
  });
  const auditSinks = new AuditSinks({ store, organizations, audit, envelope, clock, allowLoopback });
  const auditSinkDelivery = new SinkDelivery({ store, envelope, clock, maxAttempts: config.auditSinkMaxAttempts, allowLoopback });
  return {
    services: {
      auditEvents,
      auditCheckpoints,
      auditExport,
      auditVerifier: new AuditVerifier({ db: store.db, exporter: auditExport }),
      auditRetention,
      auditMaintenance,
      auditSinks,
      auditSinkDelivery,
    },
    adminRoutes: async (v1) => {
      await v1.register(auditRoutes, { events: auditEvents, organizations });
      await v1.register(auditIntegrityRoutes, { db: store.db, checkpoints: auditCheckpoints, exporter: auditExport, organizations });
      await v1.register(auditSinkRoutes, { sinks: auditSinks });
    },
    hooks: {
      start: () => {
        auditMaintenance.start(logger);
        auditSinkDelivery.start({ metrics, logger });
      },
      stop: async () => {
        await auditMaintenance.stop();
        await auditSinkDelivery.stop();
      },
    },
  };
}
