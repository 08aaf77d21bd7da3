import type { SsoConnectionsTable } from '../store/schema.js';
import { OidcProtocol } from './oidc.js';
import type { SsoProtocol, SsoProtocolDeps } from './protocol.js';
import { SamlProtocol } from './saml.js';

/** The protocols this node speaks, keyed by `sso_connections.protocol`. */
export type SsoProtocols = { [P in SsoConnectionsTable['protocol']]?: SsoProtocol };

/** One entry per protocol; the login service and the connections API look protocols up here, never switch on them. */
export function createSsoProtocols(deps: SsoProtocolDeps): { oidc: OidcProtocol; saml: SamlProtocol } {
  return {
    oidc: new OidcProtocol(deps),
    saml: new SamlProtocol(deps),
  };
}
