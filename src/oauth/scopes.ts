/**
 * Scope arithmetic (RFC 6749 §3.3): pure functions, table-tested. A scope string is
 * space-delimited, case-sensitive, order-free; each token is %x21 / %x23-5B / %x5D-7E.
 */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** Parses a scope parameter; `undefined` for a malformed one (caller answers invalid_scope). */
export function parseScope(value: string | undefined): string[] | undefined {
  if (value === undefined) return [];
  const tokens = value.split(' ').filter((token) => token.length > 0);
  if (!tokens.every((token) => SCOPE_TOKEN.test(token))) return undefined;
  return [...new Set(tokens)];
}

/** The scopes in every one of the sets, in the order of the first. */
export function intersectScopes(first: readonly string[], ...others: readonly (readonly string[])[]): string[] {
  const sets = others.map((other) => new Set(other));
  return first.filter((scope) => sets.every((set) => set.has(scope)));
}

/** The requested scopes that are not in `allowed` (empty when the request is within bounds). */
export function scopesOutside(requested: readonly string[], allowed: readonly string[]): string[] {
  const set = new Set(allowed);
  return requested.filter((scope) => !set.has(scope));
}

export function formatScope(scopes: readonly string[]): string {
  return scopes.join(' ');
}
