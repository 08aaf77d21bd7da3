import type { AuditLog } from '../audit/audit-log.js';
import type { ModuleParts, Platform } from '../platform.js';
import { AdminKeys } from './admin-keys.js';

/** Platform admin API keys: what the /v1 admin scope authenticates (admin-keys/auth-hook.ts). */
export function adminKeysModule({ store, clock }: Platform, { audit }: { audit: AuditLog }): ModuleParts<{ adminKeys: AdminKeys }> {
  return { services: { adminKeys: new AdminKeys({ store, audit, clock }) } };
}
