import type { AuditLog } from '../audit/audit-log.js';
import { cacheTtlMsOf, type ModuleParts, type Platform } from '../platform.js';
import { AdminKeys } from './admin-keys.js';

/** Platform admin API keys: what the /v1 admin scope authenticates (admin-keys/auth-hook.ts). */
export function adminKeysModule(
  { store, clock, bus, config }: Platform,
  { audit }: { audit: AuditLog },
): ModuleParts<{ adminKeys: AdminKeys }> {
  return { services: { adminKeys: new AdminKeys({ store, audit, clock, bus, cacheTtlMs: cacheTtlMsOf(config) }) } };
}
