import type { JSONWebKeySet } from 'jose';
import type { ClientsTable } from '../../store/schema.js';

/** A client as the protocol endpoints see it, with the digests of its live secrets. */
export interface RegisteredClient {
  id: string;
  name: string;
  orgId: string | null;
  agentId: string | null;
  type: ClientsTable['type'];
  method: ClientsTable['token_endpoint_auth_method'];
  grantTypes: ReadonlySet<string>;
  scopes: readonly string[];
  resources: readonly string[];
  /**
   * Registered by itself (RFC 7591) rather than by an administrator: it belongs to no
   * organization, may ask for any registered resource, and, when it registered no scope, for
   * any scope the resource defines. The user's organization and consent bound it instead.
   */
  dynamic: boolean;
  redirectUris: readonly string[];
  active: boolean;
  secrets: readonly { hash: string; expiresAt: number | null }[];
  /** Public keys for private_key_jwt. */
  jwks?: JSONWebKeySet;
  /** RFC 9126 §6: authorization requests must be pushed. */
  requirePar?: boolean;
  /** OpenID CIBA ping mode: the client's notification endpoint. */
  cibaNotificationEndpoint?: string | null;
}
