import type { AuditContext, AuditInput } from '../../audit/audit-log.js';
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

/** What a grant handler receives from the token pipeline (oauth/tokens/token-pipeline.ts). */
export interface TokenRequest<P extends string = string> {
  /** The authenticated client. */
  client: RegisteredClient;
  /** The single-valued parameters the handler declared, and no others (repeats were refused before). */
  params: Readonly<Partial<Record<P, string>>>;
  /** RFC 8707 `resource` values, which may repeat; empty unless the handler declared `resource`. */
  resources: readonly string[];
  audit: AuditContext;
  /**
   * Applies the agent's anomaly restriction to the scopes about to be minted: read-only keeps
   * the read scopes and refuses when none is left. The identity for grants that do not admit the agent.
   */
  restrictScopes(scopes: string[]): string[];
}

/** What the token pipeline records of an issuance: counted in `mandate_tokens_issued_total`, and audited. */
export interface Issued {
  /**
   * The issuance event, which the pipeline group-commits before answering (docs/architecture.md §7);
   * null when the grant wrote it in the transaction of its state change (a consumed code, a rotated
   * refresh token; docs/architecture.md §4).
   */
  event: AuditInput | null;
}

export interface GrantResult {
  response: TokenResponse;
  /** Null when nothing new was minted: a refresh replayed within its reuse window answers with its first pair. */
  issued: Issued | null;
}

/**
 * One grant type (docs/architecture.md §3.1): the token endpoint looks the handler up by `grant_type`
 * and never switches on it. The handler does only what is its own; client authentication, the kill
 * switch, agent admission and recording the issuance are the token pipeline's.
 */
export interface GrantHandler<P extends string = string> {
  readonly grantType: string;
  /**
   * The parameters the handler reads; the pipeline hands it these only (`resource` stands for the
   * repeatable RFC 8707 indicators). Client authentication consumed `client_id`, `client_secret`
   * and `client_assertion` before.
   */
  readonly parameters: readonly P[];
  /**
   * Whether the client's agent is admitted first: its per-agent rate limit, and its anomaly
   * restriction through `restrictScopes`. True where the agent obtains a token on its own authority
   * (client_credentials, token exchange); false where the token carries what a person approved
   * (a code, a grant's refresh, a CIBA approval).
   */
  readonly admitsAgent: boolean;
  handle(request: TokenRequest<P>): Promise<GrantResult>;
}

/** Declares a handler, typing `params` by its `parameters`: reading an undeclared one does not compile. */
export function defineGrant<const P extends string>(handler: GrantHandler<P>): GrantHandler<P> {
  return handler;
}

export type GrantRegistry = ReadonlyMap<string, GrantHandler>;

export function createGrantRegistry(handlers: readonly GrantHandler[]): GrantRegistry {
  return new Map(handlers.map((handler) => [handler.grantType, handler]));
}
