import { invalidSyntax } from './errors.js';

/** No SCIM resource or PatchOp nests anywhere near this deep; a body that does is refused before anything walks it. */
export const MAX_NESTING = 32;

/** Refuses (400 invalidSyntax) JSON nested deeper than `MAX_NESTING`, walking it without recursion. */
export function assertNesting(value: unknown, max = MAX_NESTING): void {
  const pending: [unknown, number][] = [[value, 0]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= max) throw tooDeep(max);
    for (const inner of Array.isArray(item) ? item : Object.values(item)) pending.push([inner, depth + 1]);
  }
}

export function tooDeep(max = MAX_NESTING): ReturnType<typeof invalidSyntax> {
  return invalidSyntax(`the JSON body is nested more than ${max} levels deep`);
}
