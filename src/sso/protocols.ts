import type { Clock } from '../clock.js';
import type { Envelope } from '../crypto/envelope.js';
import type { SsoConnectionsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { OidcProtocol } from './oidc.js';
import type { SsoProtocol } from './protocol.js';
import { SamlProtocol } from './saml.js';

/** What every SSO protocol may be built from. */
export interface SsoProtocolDeps {
  store: Store;
  clock: Clock;
  envelope: Envelope;
  /** Mandate's public issuer: callback URLs (ssoCallbackUrl) and SAML's SP entity id derive from it. */
  issuer: string;
  /** Development only: identity providers over http:// and on loopback. */
  allowLoopback: boolean;
}

/** The protocols this node speaks, keyed by `sso_connections.protocol`. */
export type SsoProtocols = { [P in SsoConnectionsTable['protocol']]?: SsoProtocol };

/** One entry per protocol; the login service and the connections API look protocols up here, never switch on them. */
export function createSsoProtocols(deps: SsoProtocolDeps): SsoProtocols {
  return {
    oidc: new OidcProtocol(deps),
    saml: new SamlProtocol(deps),
  };
}
