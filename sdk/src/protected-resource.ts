/** Options of {@link protectedResourceMetadata}. */
export interface ProtectedResourceMetadataOptions {
  /** The protected resource's identifier (an https URL without fragment), e.g. `https://mcp.example.com/mcp`. */
  resource: string;
  /** Issuer identifiers of the authorization servers that issue tokens for this resource. */
  authorizationServers: string[];
  /** Scopes the resource understands. */
  scopesSupported?: string[];
  /** A human-readable name of the resource. */
  resourceName?: string;
}

/** The RFC 9728 §2 protected resource metadata document. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported?: string[];
  bearer_methods_supported: ['header'];
  resource_name?: string;
}

/** RFC 9728 §3: the registered well-known URI suffix. */
const WELL_KNOWN = '/.well-known/oauth-protected-resource';

function parseResource(resource: string): URL {
  let url: URL;
  try {
    url = new URL(resource);
  } catch {
    throw new TypeError('resource must be an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('resource must be an https URL');
  if (url.hash || resource.includes('#')) throw new TypeError('resource must not contain a fragment');
  return url;
}

/**
 * Builds the RFC 9728 protected resource metadata document.
 *
 * @param options - The resource identifier, its authorization servers, and optional scopes and name.
 * @returns The JSON document to serve at {@link protectedResourceMetadataPath}. Bearer tokens are accepted in the header only.
 */
export function protectedResourceMetadata(options: ProtectedResourceMetadataOptions): ProtectedResourceMetadata {
  parseResource(options.resource);
  if (options.authorizationServers.length === 0) throw new TypeError('authorizationServers must not be empty');
  const document: ProtectedResourceMetadata = {
    resource: options.resource,
    authorization_servers: [...options.authorizationServers],
    bearer_methods_supported: ['header'],
  };
  if (options.scopesSupported !== undefined) document.scopes_supported = [...options.scopesSupported];
  if (options.resourceName !== undefined) document.resource_name = options.resourceName;
  return document;
}

/**
 * The path (and query, if any) where the metadata of `resource` lives (RFC 9728 §3.1): the
 * well-known suffix is inserted between the host and the resource's path, and a terminating
 * slash after the host is dropped.
 *
 * @param resource - The resource identifier, e.g. `https://mcp.example.com/mcp`.
 * @returns E.g. `/.well-known/oauth-protected-resource/mcp`; for `https://mcp.example.com/`, `/.well-known/oauth-protected-resource`.
 * @throws TypeError when `resource` is not an absolute URL or has a fragment.
 */
export function protectedResourceMetadataPath(resource: string): string {
  const url = parseResource(resource);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${WELL_KNOWN}${path}${url.search}`;
}

/**
 * The absolute URL of the metadata of `resource` (RFC 9728 §3.1): what the `resource_metadata`
 * attribute of a `WWW-Authenticate` challenge announces.
 *
 * @param resource - The resource identifier, e.g. `https://mcp.example.com/mcp`.
 * @returns E.g. `https://mcp.example.com/.well-known/oauth-protected-resource/mcp`.
 * @throws TypeError when `resource` is not an absolute URL or has a fragment.
 */
export function protectedResourceMetadataUrl(resource: string): string {
  return `${parseResource(resource).origin}${protectedResourceMetadataPath(resource)}`;
}
