import { type ChainReport, ChainWalker } from './chain.js';
import type { AuditEvents } from './store.js';

/**
 * Checks one chain (or every chain) stored in the database against its head, streaming the
 * events through the pure {@link ChainWalker}.
 */
export async function verifyStoredChains(events: AuditEvents, chainId?: string): Promise<ChainReport[]> {
  const ids = chainId ? [chainId] : await events.chainIds();
  const reports: ChainReport[] = [];
  for (const id of ids) {
    const walker = new ChainWalker(id);
    for await (const row of events.chain(id)) if (!walker.push(row)) break;
    reports.push(walker.finish(await events.head(id)));
  }
  return reports;
}
