/**
 * The grant types this server implements, named once (RFC 6749 §4.1/§4.4/§6, RFC 8693,
 * OpenID CIBA Core §10). Each grant module registers under its constant; the client schema
 * accepts exactly this list, and discovery advertises what the registry holds. A leaf module, so
 * the client schema, the grants and the approvals above oauth can all import it without a cycle.
 */
export const AUTHORIZATION_CODE = 'authorization_code';
export const REFRESH_TOKEN = 'refresh_token';
export const CLIENT_CREDENTIALS = 'client_credentials';
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const CIBA_GRANT_TYPE = 'urn:openid:params:grant-type:ciba';

/** In the order discovery lists them. */
export const GRANT_TYPES = [AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS, TOKEN_EXCHANGE, CIBA_GRANT_TYPE] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

/**
 * The `grant_type` label of `mandate_tokens_issued_total`: the name itself, or a URN's last
 * segment in snake case (`token_exchange`, `ciba`), so dashboards keep short labels.
 */
export function metricLabelOf(grantType: string): string {
  return (grantType.split(':').at(-1) ?? grantType).replaceAll('-', '_');
}
