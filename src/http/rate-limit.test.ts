import { describe, expect, it } from 'vitest';
import { FixedWindowLimiter } from './rate-limit.js';

describe('FixedWindowLimiter', () => {
  it('allows max requests per window per key, then refuses until the window ends', () => {
    let now = 1_000_000;
    const limiter = new FixedWindowLimiter(() => now);
    const results = Array.from({ length: 4 }, () => limiter.hit('a', 3, 60).allowed);
    expect(results).toEqual([true, true, true, false]);
    expect(limiter.hit('b', 3, 60).allowed).toBe(true);
    const refused = limiter.hit('a', 3, 60);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, resetSeconds: 60 });
    now += 30_000;
    expect(limiter.hit('a', 3, 60).resetSeconds).toBe(30);
    now += 30_000;
    expect(limiter.hit('a', 3, 60)).toMatchObject({ allowed: true, remaining: 2 });
  });
});
