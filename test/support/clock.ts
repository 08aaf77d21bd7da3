import type { Clock } from '../../src/clock.js';

/** A clock that stands still until a test moves it. */
export class FrozenClock implements Clock {
  constructor(private ms = Date.parse('2026-11-17T09:00:00.000Z')) {}
  now(): number {
    return this.ms;
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}
