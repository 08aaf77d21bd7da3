import { describe, expect, it } from 'vitest';
import { InvalidatingCache } from './cache.js';

const clock = { now: () => 1_000 };

describe('InvalidatingCache', () => {
  it('does not store a row read while the key was invalidated, so the next read goes to the source', async () => {
    const cache = new InvalidatingCache<string>(clock, 60_000);
    let release: (value: string) => void = () => {};
    const slow = cache.get('k', () => new Promise<string>((resolve) => (release = resolve)));
    cache.invalidate('k');
    release('read before the change');
    expect(await slow).toBe('read before the change');
    expect(await cache.get('k', async () => 'read after the change')).toBe('read after the change');
  });

  it('serves a read from memory until invalidated or cleared', async () => {
    const cache = new InvalidatingCache<string>(clock, 60_000);
    let reads = 0;
    const load = async () => `v${++reads}`;
    expect(await cache.get('k', load)).toBe('v1');
    expect(await cache.get('k', load)).toBe('v1');
    cache.clear();
    expect(await cache.get('k', load)).toBe('v2');
  });
});
