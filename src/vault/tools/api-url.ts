import { ApiPathError } from './errors.js';

// RFC 3986 §3.3 pchar: unreserved / pct-encoded / sub-delims / ":" / "@". Nothing else, so no
// "?", "#", backslash, whitespace or non-ASCII can reach the URL parser, and the parser leaves the
// path byte for byte as given.
const SEGMENT = String.raw`(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+`;
const PATH = new RegExp(`^(?:/|(?:/${SEGMENT})+/?)$`);
const MAX_PATH_LENGTH = 2048;

/** Percent-decodes until stable (double encoding included), so `%252e%252e` is seen as `..`. */
function fullyDecoded(segment: string): string {
  let current = segment;
  for (let i = 0; i < 5; i++) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      throw new ApiPathError('malformed percent-encoding');
    }
    if (next === current) return current;
    current = next;
  }
  throw new ApiPathError('too many levels of percent-encoding');
}

function baseOf(apiBaseUrl: string): { origin: string; pathname: string } {
  let base: URL;
  try {
    base = new URL(apiBaseUrl);
  } catch {
    throw new ApiPathError('the API base is not an absolute URL');
  }
  if ((base.protocol !== 'https:' && base.protocol !== 'http:') || base.username || base.password || base.search || base.hash) {
    throw new ApiPathError('the API base must be a plain http(s) URL');
  }
  return { origin: base.origin, pathname: base.pathname.replace(/\/+$/, '') };
}

/**
 * The URL of `path` under `apiBaseUrl`, refusing anything that could leave the base: `path` must
 * start with one `/` and consist of RFC 3986 path characters only (no `?`, `#`, `\`, whitespace),
 * with no empty (`//`), `.` or `..` segment, percent-encoded or not, at any depth of encoding.
 * The path is appended to the base's path (`https://slack.com/api` + `/chat.postMessage`), and
 * the result must keep the base's origin and path prefix. `query` is encoded by URLSearchParams.
 * Throws `ApiPathError`. This guards the generic proxy as well as the tools.
 */
export function resolveApiUrl(apiBaseUrl: string, path: string, query?: Record<string, string>): URL {
  const base = baseOf(apiBaseUrl);
  if (typeof path !== 'string' || path.length > MAX_PATH_LENGTH) throw new ApiPathError('not a path');
  if (!PATH.test(path)) throw new ApiPathError('must start with one "/" and hold only URL path characters, with no empty segment');
  for (const segment of path.split('/')) {
    for (const part of fullyDecoded(segment).split(/[/\\]/)) {
      if (part === '.' || part === '..') throw new ApiPathError('dot segments are not allowed');
    }
  }
  const expectedPath = `${base.pathname}${path}`;
  const url = new URL(`${base.origin}${expectedPath}`);
  if (url.origin !== base.origin || url.pathname !== expectedPath || url.search || url.hash) {
    throw new ApiPathError('the path leaves the API base');
  }
  if (query) {
    for (const [key, value] of Object.entries(query)) {
      if (typeof value !== 'string') throw new ApiPathError(`query parameter ${key} is not a string`);
      url.searchParams.append(key, value);
    }
  }
  return url;
}
