import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface ResolvedMasterKey {
  key: Buffer;
  /** Set when the key came from (or was written to) a file rather than MANDATE_MASTER_KEY. */
  file?: string;
  created: boolean;
}

/**
 * The configured master key, or the data dir's key file, created with mode 0600 on first start.
 * A file next to the database it protects is a development convenience only: the caller warns.
 */
export function resolveMasterKey(configured: Buffer | undefined, dataDir: string): ResolvedMasterKey {
  if (configured) return { key: configured, created: false };
  const file = path.join(dataDir, 'master.key');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
    return { key, file, created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = randomBytes(32);
  // 'wx' fails if another process created it meanwhile; then read theirs.
  try {
    fs.writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return resolveMasterKey(undefined, dataDir);
    throw error;
  }
  return { key, file, created: true };
}
