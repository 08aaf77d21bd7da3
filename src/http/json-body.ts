import type { FastifyInstance } from 'fastify';

/** Every JSON media type Mandate reads: one parser, one depth bound (docs/architecture.md §13). */
export const JSON_CONTENT_TYPES = ['application/json', 'application/scim+json'] as const;

/**
 * A body nested deeper than the bound. It carries a 4xx `statusCode` like Fastify's own parse
 * errors, so each surface answers it in its own shape: `invalid_request` in the `/v1` shape or
 * the RFC 6749 §5.2 shape (http/error-handler.ts), `invalidSyntax` on SCIM (RFC 7644 §3.12).
 */
export class JsonTooDeepError extends Error {
  override name = 'JsonTooDeepError';
  readonly statusCode = 400;
  readonly code = 'MANDATE_JSON_TOO_DEEP';

  constructor(readonly maxDepth: number) {
    super(`request body is nested more than ${maxDepth} levels deep`);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Whether JSON text opens more than `maxDepth` objects and arrays inside each other. One pass
 * over the characters, no recursion and no allocation, before anything is parsed: a deep body
 * never reaches JSON.parse, schema validation or any code that walks the value recursively.
 * Brackets inside strings do not count; text that is not JSON is left for the parser to refuse.
 */
export function exceedsJsonDepth(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return false;
}

/**
 * Replaces Fastify's JSON parser with one that refuses bodies nested deeper than `maxDepth`
 * (`MANDATE_JSON_MAX_DEPTH`) and then parses exactly as Fastify does (secure-json-parse, with
 * `__proto__` and `constructor.prototype` refused), for every type in {@link JSON_CONTENT_TYPES}.
 * The size bound is Fastify's `bodyLimit`, which applies to every parser.
 */
export function installJsonBody(app: FastifyInstance, options: { maxDepth: number }): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser([...JSON_CONTENT_TYPES], { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (exceedsJsonDepth(text, options.maxDepth)) {
      done(new JsonTooDeepError(options.maxDepth), undefined);
      return;
    }
    parse(request, text, done);
  });
}
