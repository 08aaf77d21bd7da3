import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidClient, OAuthError } from '../oauth/errors.js';
import type { Metrics } from '../ops/metrics.js';
import { ApiError, type ApiErrorBody, type ApiErrorCode } from './errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Marks an OAuth protocol endpoint: errors answer in RFC 6749 §5.2 form. */
    oauth?: boolean;
  }
}

/** Fastify's own 4xx errors, mapped to the documented codes. */
const FASTIFY_CODES: Record<number, ApiErrorCode> = {
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
export function sendApiError(reply: FastifyReply, status: number, code: ApiErrorCode, description: string): FastifyReply {
  const body: ApiErrorBody = { error: code, error_description: description, request_id: String(reply.request.id) };
  return reply.code(status).header('cache-control', 'no-store').send(body);
}

/**
 * One error handler for the whole app: typed errors answer with their code; Fastify's parsing
 * and validation errors become `invalid_request` and friends; anything else is logged and
 * answered as a bare `server_error`, so internal detail never reaches a client.
 */
export function installErrorHandler(app: FastifyInstance, metrics: Metrics): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof OAuthError) {
      metrics.errors.inc({ code: error.error });
      if (error.detail) request.log.info({ oauth_error: error.error, detail: error.detail }, 'oauth request refused');
      if (error instanceof InvalidClient && error.usedBasic) reply.header('www-authenticate', 'Basic realm="mandate"');
      if (error.error === 'invalid_token') reply.header('www-authenticate', 'Bearer realm="mandate", error="invalid_token"');
      return reply
        .code(error.status)
        .header('cache-control', 'no-store')
        .send({ error: error.error, error_description: error.description });
    }
    if (error instanceof ApiError) {
      metrics.errors.inc({ code: error.code });
      for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
      return sendApiError(reply, error.status, error.code, error.description);
    }
    const status = error.statusCode ?? 500;
    if (status < 500 && request.routeOptions.config?.oauth) {
      // A protocol endpoint answers parse and size errors in RFC 6749 §5.2 form too.
      metrics.errors.inc({ code: 'invalid_request' });
      return reply
        .code(status)
        .header('cache-control', 'no-store')
        .send({ error: 'invalid_request', error_description: describeFastifyError(error) });
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
