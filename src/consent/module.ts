import type { AuditLog } from '../audit/audit-log.js';
import type { ModuleParts, Platform } from '../platform.js';
import { Grants } from './grants.js';
import { RestoreFence } from './restore-fence.js';
import { RevokedAccessTokens } from './revoked-tokens.js';

export interface ConsentServices {
  /** Consent grants: the revocable root of every delegated credential. */
  grants: Grants;
  /** Access tokens revoked one by one (RFC 7009). */
  revokedAccessTokens: RevokedAccessTokens;
  /** After a restore from a backup: every credential issued before the fence is refused. */
  restoreFence: RestoreFence;
}

/** What liveness reads besides the stops, held in memory on every node (docs/architecture.md §9). */
export function consentModule({ store, clock, bus }: Platform, { audit }: { audit: AuditLog }): ModuleParts<ConsentServices> {
  const grants = new Grants({ store, audit, clock, bus });
  const revokedAccessTokens = new RevokedAccessTokens({ store, audit, clock, bus });
  const restoreFence = new RestoreFence({ store, audit, clock, bus });
  const reload = async () => {
    await Promise.all([revokedAccessTokens.load(), grants.load(), restoreFence.load()]);
  };
  return { services: { grants, revokedAccessTokens, restoreFence }, hooks: { load: reload, reload } };
}
