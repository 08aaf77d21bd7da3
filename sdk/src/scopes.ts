import { InsufficientScopeError } from './errors.js';

/**
 * Splits an RFC 6749 §3.3 `scope` value (space-delimited) into its scope tokens.
 *
 * @param scope - The space-delimited scope string, e.g. `"calendar.read calendar.write"`.
 * @returns The distinct scope tokens, in order.
 */
export function parseScope(scope: string): string[] {
  return [...new Set(scope.split(' ').filter((token) => token.length > 0))];
}

/**
 * Throws unless the granted scope string includes every required scope.
 *
 * @param grantedScope - The token's space-delimited `scope` claim.
 * @param requiredScopes - The scopes the request needs; none when undefined or empty.
 * @throws {@link InsufficientScopeError} naming the missing scopes and all required ones.
 */
export function requireScopes(grantedScope: string, requiredScopes: readonly string[] | undefined): void {
  if (!requiredScopes || requiredScopes.length === 0) return;
  const granted = new Set(parseScope(grantedScope));
  const missingScopes = requiredScopes.filter((scope) => !granted.has(scope));
  if (missingScopes.length > 0) throw new InsufficientScopeError({ missingScopes, requiredScopes });
}
