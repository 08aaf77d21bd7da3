import type { RegisteredClient } from '../clients/authenticate.js';
import { InvalidScope, InvalidTarget } from '../errors.js';
import type { Resources } from '../resources/resources.js';
import type { Resource } from '../resources/schemas.js';
import { intersectScopes, parseScope, scopesOutside } from '../scopes.js';

/**
 * RFC 8707 §2: the one resource a token is for. It must be registered, open to the client's
 * organization and among the resources the client may ask for; it becomes the token's `aud`.
 */
export async function checkResource(resources: Resources, client: RegisteredClient, requested: readonly string[]): Promise<Resource> {
  if (requested.length === 0) throw new InvalidTarget('the resource parameter is required (RFC 8707)');
  if (requested.length > 1) throw new InvalidTarget('request one resource per access token');
  const identifier = requested[0] as string;
  const resource = await resources.findByIdentifier(identifier);
  // A dynamic client has no organization yet: the consenting user's organization is checked at consent.
  const orgAllowed = resource && (resource.org_ids === null || client.orgId === null || resource.org_ids.includes(client.orgId));
  const clientAllowed = client.dynamic || client.resources.includes(identifier);
  if (!resource || !orgAllowed || !clientAllowed) {
    throw new InvalidTarget(`resource ${identifier} is unknown or not available to this client`);
  }
  return resource;
}

/**
 * The granted scopes: what was asked for (or, when nothing was, everything allowed), which must
 * lie within what the client may receive and what the resource defines (RFC 6749 §3.3).
 */
export function checkScope(scopeParam: string | undefined, client: RegisteredClient, resource: Resource): string[] {
  const requested = parseScope(scopeParam);
  if (!requested) throw new InvalidScope('scope is malformed');
  const defined = resource.scopes.map((s) => s.name);
  const allowed = client.dynamic && client.scopes.length === 0 ? defined : intersectScopes(client.scopes, defined);
  if (requested.length === 0) {
    if (allowed.length === 0) throw new InvalidScope('the client may not receive any scope of this resource');
    return allowed;
  }
  const outside = scopesOutside(requested, allowed);
  if (outside.length > 0) throw new InvalidScope(`scope not allowed for this client and resource: ${outside.join(' ')}`);
  return requested;
}
