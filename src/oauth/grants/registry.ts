import type { AuditContext } from '../../audit/audit-log.js';
import type { RegisteredClient } from '../clients/authenticate.js';

/** RFC 6749 §5.1 successful token response. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  issued_token_type?: string;
  /** RFC 9396 §7: what the token is for, as granted. */
  authorization_details?: Record<string, unknown>[];
}

export interface TokenRequest {
  /** The authenticated client. */
  client: RegisteredClient;
  /** Single-valued parameters of the request (repeats were refused before this point). */
  params: Readonly<Record<string, string | undefined>>;
  /** RFC 8707 `resource` values, which may repeat. */
  resources: readonly string[];
  audit: AuditContext;
}

/**
 * One grant type (docs/architecture.md §3.1): the token endpoint looks the handler up by `grant_type`
 * and never switches on it. `parameters` names the ones the handler reads, for documentation.
 */
export interface GrantHandler {
  readonly grantType: string;
  readonly parameters: readonly string[];
  handle(request: TokenRequest): Promise<TokenResponse>;
}

export type GrantRegistry = ReadonlyMap<string, GrantHandler>;

export function createGrantRegistry(handlers: readonly GrantHandler[]): GrantRegistry {
  return new Map(handlers.map((handler) => [handler.grantType, handler]));
}
