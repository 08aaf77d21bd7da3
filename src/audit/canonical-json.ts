import { MandateError } from '../errors.js';

/**
 * How deep a canonicalized value may nest. Far above what a request can carry
 * (`MANDATE_JSON_MAX_DEPTH` is at most 256) plus the few levels an audit event wraps around it, so
 * it only refuses values built in code, before they reach the chain (docs/architecture.md §13).
 */
export const CANONICAL_MAX_DEPTH = 512;

/** A value nested deeper than the bound: refused as a bad request, before anything is written. */
export class NestingTooDeepError extends MandateError {
  override name = 'NestingTooDeepError';

  constructor(maxDepth: number) {
    super('invalid_request', `value is nested more than ${maxDepth} levels deep`);
  }
}

interface Frame {
  /** The array being written, or the object whose sorted keys are written. */
  readonly container: unknown[] | Record<string, unknown>;
  /** Present for an object: its defined keys in canonical order. */
  readonly keys: string[] | undefined;
  index: number;
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function primitiveJson(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonical JSON cannot hold NaN or Infinity');
  return JSON.stringify(value);
}

/**
 * JSON Canonicalization Scheme (RFC 8785) for the values audit events hold: object keys sorted
 * by UTF-16 code units (§3.2.3), no whitespace, and ECMAScript number and string serialization
 * (§3.2.2), which is what JSON.stringify does. `undefined` members are dropped, as in JSON.
 *
 * Iterative, with an explicit stack: no value, however deep, can overflow the call stack, and one
 * nested deeper than `maxDepth` (or a cycle) throws {@link NestingTooDeepError}.
 */
export function canonicalJson(value: unknown, maxDepth = CANONICAL_MAX_DEPTH): string {
  const parts: string[] = [];
  const stack: Frame[] = [];
  let pending = true;
  let next: unknown = value;
  for (;;) {
    if (pending) {
      pending = false;
      if (next === null || typeof next !== 'object') parts.push(primitiveJson(next));
      else {
        if (stack.length >= maxDepth) throw new NestingTooDeepError(maxDepth);
        if (Array.isArray(next)) {
          parts.push('[');
          stack.push({ container: next, keys: undefined, index: 0 });
        } else {
          const object = next as Record<string, unknown>;
          parts.push('{');
          const keys = Object.keys(object).filter((key) => object[key] !== undefined);
          stack.push({ container: object, keys: keys.sort(byCodeUnits), index: 0 });
        }
      }
    }
    const frame = stack[stack.length - 1];
    if (!frame) break;
    const { container, keys } = frame;
    const length = keys ? keys.length : (container as unknown[]).length;
    if (frame.index >= length) {
      parts.push(keys ? '}' : ']');
      stack.pop();
      continue;
    }
    if (frame.index > 0) parts.push(',');
    if (keys) {
      const key = keys[frame.index] as string;
      parts.push(JSON.stringify(key), ':');
      next = (container as Record<string, unknown>)[key];
    } else next = (container as unknown[])[frame.index] ?? null;
    frame.index++;
    pending = true;
  }
  return parts.join('');
}

/**
 * Throws {@link NestingTooDeepError} when `value` nests deeper than {@link canonicalJson} accepts.
 * A walk without recursion or serialization: the group commit (audit/batcher.ts) runs it before
 * queueing an event, so one caller's bad event cannot fail the batch it would have shared.
 */
export function assertCanonicalDepth(value: unknown, maxDepth = CANONICAL_MAX_DEPTH): void {
  if (value === null || typeof value !== 'object') return;
  const pending: [object, number][] = [[value, 1]];
  for (let item = pending.pop(); item; item = pending.pop()) {
    const [container, depth] = item;
    if (depth > maxDepth) throw new NestingTooDeepError(maxDepth);
    for (const inner of Array.isArray(container) ? container : Object.values(container)) {
      if (inner !== null && typeof inner === 'object') pending.push([inner, depth + 1]);
    }
  }
}
