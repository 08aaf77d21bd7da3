import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

const TAG_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Thrown when a ciphertext cannot be opened: unknown key id, wrong associated data or tampering. */
export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
}

/**
 * AES-256-GCM sealing with a keyring. A sealed value names the id of the master key that sealed
 * it (`v1.<kid>.<iv>.<ciphertext>.<tag>`), so the master key can rotate: older keys stay in the
 * ring to open old ciphertexts, and {@link Envelope.needsReseal} tells callers to re-seal lazily.
 */
export class Envelope {
  private readonly keys: Map<string, Buffer>;
  readonly currentKeyId: string;

  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    if (current.length !== 32) throw new EnvelopeError('master key must be 32 bytes');
    this.currentKeyId = keyIdOf(current);
    this.keys = new Map([[this.currentKeyId, current]]);
    for (const key of previous) this.keys.set(keyIdOf(key), key);
  }

  /**
   * A key for another purpose (HKDF-SHA256, RFC 5869, from the current master key), identical on
   * every node that shares the master key: e.g. the approvals inbox's CSRF tokens.
   */
  deriveKey(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.keys.get(this.currentKeyId) as Buffer, Buffer.alloc(0), `mandate:${purpose}`, 32));
  }

  /** Seals `plaintext`; `context` is bound as associated data so a ciphertext cannot be moved to another row. */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentKeyId) as Buffer, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', this.currentKeyId, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join(
      '.',
    );
  }

  open(sealed: string, context: string): string {
    const [version, kid, iv, body, tag] = sealed.split('.');
    // One spelling per ciphertext: strict base64url, a 96-bit IV and a full 128-bit tag.
    if (version !== 'v1' || !kid || !iv || body === undefined || !tag || ![iv, body, tag].every((part) => BASE64URL.test(part))) {
      throw new EnvelopeError('not a sealed value');
    }
    const ivBytes = Buffer.from(iv, 'base64url');
    const tagBytes = Buffer.from(tag, 'base64url');
    if (ivBytes.length !== 12 || tagBytes.length !== TAG_BYTES) throw new EnvelopeError('not a sealed value');
    const key = this.keys.get(kid);
    if (!key) throw new EnvelopeError(`sealed with unknown master key ${kid}`);
    try {
      // authTagLength pins the tag size: without it Node accepts truncated tags (forgeable).
      const decipher = createDecipheriv('aes-256-gcm', key, ivBytes, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tagBytes);
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new EnvelopeError('ciphertext failed authentication');
    }
  }

  /**
   * True when the value was sealed by one of the previous master keys and should be sealed again.
   * A key this node does not hold (a newer one, during a rolling restart) is never "older".
   */
  needsReseal(sealed: string): boolean {
    const kid = sealed.split('.')[1] ?? '';
    return kid !== this.currentKeyId && this.keys.has(kid);
  }
}

/** A short public id of a master key: the first 8 bytes of its SHA-256, hex. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}
