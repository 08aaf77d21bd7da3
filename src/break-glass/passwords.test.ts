import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from './passwords.js';

const cheap = { N: 2 ** 10, r: 8, p: 1 };

describe('passwords (scrypt)', () => {
  it('stores the algorithm, its cost, a random salt and the key', async () => {
    const stored = await hashPassword('correct horse battery staple', cheap);
    expect(stored).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await hashPassword('correct horse battery staple', cheap)).not.toBe(stored);
  });

  it('uses the default cost (N=2^15, r=8, p=3) unless told otherwise', async () => {
    expect(await hashPassword('a long enough passphrase')).toMatch(/^scrypt\$32768\$8\$3\$/);
  });

  it('verifies the right password and refuses others', async () => {
    const stored = await hashPassword('correct horse battery staple', cheap);
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true);
    expect(await verifyPassword('correct horse battery stapl', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
  });

  it('treats Unicode compatibility forms as the same password (NFKC)', async () => {
    const stored = await hashPassword('ｐａｓｓｗｏｒｄ ｆｕｌｌｗｉｄｔｈ', cheap);
    expect(await verifyPassword('password fullwidth', stored)).toBe(true);
  });

  it.each([
    ['another scheme', 'bcrypt$10$abc'],
    ['a truncated hash', 'scrypt$1024$8$1$c2FsdA'],
    ['N not a power of two', 'scrypt$1000$8$1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['an absurd cost', 'scrypt$1073741824$8$1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a short key', 'scrypt$1024$8$1$c2FsdHNhbHRzYWx0c2FsdA$AAAA'],
  ])('refuses %s without throwing', async (_name, stored) => {
    expect(await verifyPassword('anything', stored)).toBe(false);
  });
});
