import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './backoff.js';

const options = { baseMs: 1000, capMs: 300_000 };

describe('retryDelayMs', () => {
  it.each([
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [9, 256_000],
    [10, 300_000],
    [40, 300_000],
  ])('waits base · 2^(attempt − 1), capped: attempt %i → %i ms before jitter', (attempt, expected) => {
    expect(retryDelayMs(attempt, options, () => 0)).toBe(expected);
    expect(retryDelayMs(attempt, options, () => 1)).toBe(expected * 1.25);
  });

  it('grows with every attempt until the cap, whatever the jitter', () => {
    for (let attempt = 1; attempt < 9; attempt++) {
      expect(retryDelayMs(attempt + 1, options, () => 0)).toBeGreaterThan(retryDelayMs(attempt, options, () => 0.999));
    }
  });
});
