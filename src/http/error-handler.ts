import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, MandateError } from '../errors.js';
import type { Metrics } from '../ops/metrics.js';
import { isDatabaseUnavailable } from '../store/errors.js';
import { errorHeaders } from './error-headers.js';
import { statusOf } from './status.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Marks an OAuth protocol endpoint: errors answer in RFC 6749 §5.2 form. */
    oauth?: boolean;
  }
}

/** The body of every management API error. */
export interface ApiErrorBody {
  error: ErrorCode;
  error_description: string;
  request_id: string;
}

/**
 * RFC 6749 §5.2 has no code for a rate limit or a policy refusal: an OAuth client reads these
 * codes, and the status says the rest.
 */
const OAUTH_CODES: Partial<Record<ErrorCode, ErrorCode>> = { rate_limited: 'invalid_request', forbidden: 'access_denied' };

/** Fastify's own 4xx errors, mapped to the documented codes. */
const FASTIFY_CODES: Record<number, ErrorCode> = {
  400: 'invalid_request',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

function describeFastifyError(error: FastifyError): string {
  if (error.validation) return `${error.validationContext ?? 'request'}${error.message.replace(/^(body|querystring|params|headers)/, '')}`;
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.name === 'SyntaxError') return 'request body is not valid JSON';
  if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return 'request body is empty but content-type is application/json';
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return 'request body is too large';
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return 'content-type must be application/json';
  return error.message;
}

/** Sends the one documented error shape. */
export function sendApiError(reply: FastifyReply, status: number, code: ErrorCode, description: string): FastifyReply {
  const body: ApiErrorBody = { error: code, error_description: description, request_id: String(reply.request.id) };
  return reply.code(status).header('cache-control', 'no-store').send(body);
}

/** RFC 6749 §5.2: what OAuth clients parse. */
function sendOAuthError(reply: FastifyReply, status: number, code: ErrorCode, description: string): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').send({ error: code, error_description: description });
}

/** What `Retry-After` suggests while the database is unavailable: nodes reconnect within about a second. */
const DATABASE_RETRY_AFTER_SECONDS = 1;

/**
 * The one place a database fault becomes an answer (docs/architecture.md §11): a connection lost,
 * refused or timed out, a full pool, a cancelled statement or a busy SQLite file is 503
 * `temporarily_unavailable` with `Retry-After`, not a 500: the request was fine, and the node
 * recovers on its own once the database answers.
 */
export function asTemporarilyUnavailable(error: unknown): MandateError | undefined {
  if (error instanceof MandateError || !isDatabaseUnavailable(error)) return undefined;
  return new MandateError('temporarily_unavailable', 'the database is not answering; retry shortly', {
    retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS,
    cause: error,
  });
}

/**
 * One error handler for the whole app: a {@link MandateError} answers with its code, its status
 * (http/status.ts) and the headers it asks for, in the RFC 6749 §5.2 shape when it is an OAuth
 * protocol error and in the `/v1` shape otherwise; Fastify's parsing and validation errors become
 * `invalid_request` and friends; anything else is logged and answered as a bare `server_error`,
 * so internal detail never reaches a client.
 */
export function installErrorHandler(app: FastifyInstance, metrics: Metrics): void {
  app.setErrorHandler((raised: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const error = asTemporarilyUnavailable(raised) ?? raised;
    if (error instanceof MandateError) {
      const status = statusOf(error.code);
      for (const [name, value] of Object.entries(errorHeaders(error))) reply.header(name, value);
      // An OAuth client parses only RFC 6749 §5.2, whatever made its endpoint fail.
      const oauth = error.protocol === 'oauth' || (error.code === 'temporarily_unavailable' && request.routeOptions.config?.oauth);
      if (oauth) {
        const code = OAUTH_CODES[error.code] ?? error.code;
        metrics.errors.inc({ code });
        if (error.detail) request.log.info({ oauth_error: code, detail: error.detail }, 'oauth request refused');
        return sendOAuthError(reply, status, code, error.description);
      }
      metrics.errors.inc({ code: error.code });
      if (error.detail) request.log.info({ error: error.code, detail: error.detail }, 'request refused');
      return sendApiError(reply, status, error.code, error.description);
    }
    const status = error.statusCode ?? 500;
    if (status < 500 && request.routeOptions.config?.oauth) {
      // A protocol endpoint answers parse and size errors in RFC 6749 §5.2 form too.
      metrics.errors.inc({ code: 'invalid_request' });
      return sendOAuthError(reply, status, 'invalid_request', describeFastifyError(error));
    }
    const code = FASTIFY_CODES[status];
    if (status < 500 && code) {
      metrics.errors.inc({ code });
      return sendApiError(reply, status, code, describeFastifyError(error));
    }
    request.log.error({ err: error }, 'unhandled error');
    metrics.errors.inc({ code: 'server_error' });
    return sendApiError(reply, 500, 'server_error', 'internal error; quote the request_id when reporting it');
  });

  app.setNotFoundHandler((request, reply) => {
    metrics.errors.inc({ code: 'not_found' });
    return sendApiError(reply, 404, 'not_found', `no route for ${request.method} ${request.url.split('?')[0]}`);
  });
}
