import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditContext } from '../audit/audit-log.js';
import { MandateError } from '../errors.js';
import { asTemporarilyUnavailable } from '../http/error-handler.js';
import { errorHeaders } from '../http/error-headers.js';
import { JsonTooDeepError } from '../http/json-body.js';
import type { RateLimit } from '../http/rate-limit.js';
import { auditContextOf } from '../http/request-context.js';
import { statusOf } from '../http/status.js';
import { ScimDiscovery } from './discovery.js';
import { ScimError } from './errors.js';
import { notModified } from './etag.js';
import type { ScimGroups } from './groups.js';
import type { ListParameters } from './list-query.js';
import { project, projectionOf } from './projection.js';
import type { ResourceSchema, ScimDocument } from './schemas.js';
import type { ScimCaller, ScimTokens } from './scim-tokens.js';
import type { ScimUsers } from './users.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The SCIM token that authenticated this /scim/v2 request, and its organization. */
    scimCaller?: ScimCaller;
  }
}

/** RFC 7644 §3.1. */
export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';

const CHALLENGE = 'Bearer realm="mandate-scim"';
const LIST_PARAMETERS = ['filter', 'sortBy', 'sortOrder', 'startIndex', 'count', 'attributes', 'excludedAttributes'] as const;

/** The resource services behind /Users and /Groups. */
interface ScimResources {
  schema: ResourceSchema;
  list(orgId: string, parameters: ListParameters): Promise<ScimDocument>;
  get(orgId: string, id: string): Promise<ScimDocument>;
  create(orgId: string, body: unknown, context: AuditContext): Promise<ScimDocument>;
  replace(orgId: string, id: string, body: unknown, ifMatch: string | undefined, context: AuditContext): Promise<ScimDocument>;
  patch(orgId: string, id: string, body: unknown, ifMatch: string | undefined, context: AuditContext): Promise<ScimDocument>;
  remove(orgId: string, id: string, ifMatch: string | undefined, context: AuditContext): Promise<void>;
}

/** Errors of the SCIM surface in RFC 7644 §3.12 form: a documented exception to the /v1 error shape. */
function toScimError(raised: FastifyError, request: FastifyRequest): ScimError {
  if (raised instanceof ScimError) return raised;
  // A database fault is a 503 with Retry-After here too (docs/architecture.md §11): IdPs retry.
  const error = asTemporarilyUnavailable(raised) ?? raised;
  if (error instanceof MandateError) return new ScimError(statusOf(error.code), error.description, undefined, errorHeaders(error));
  if (error instanceof JsonTooDeepError) return new ScimError(400, error.message, 'invalidSyntax');
  const status = error.statusCode ?? 500;
  if (status === 400) return new ScimError(400, 'the request body is not valid JSON', 'invalidSyntax');
  if (status > 400 && status < 500) return new ScimError(status, error.message);
  request.log.error({ err: error }, 'unhandled error');
  return new ScimError(500, 'internal error; quote the x-request-id header when reporting it');
}

function sendError(reply: FastifyReply, error: ScimError): FastifyReply {
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  return reply.code(error.status).header('cache-control', 'no-store').send(error.body());
}

function parametersOf(query: unknown): ListParameters {
  const parameters: ListParameters = {};
  const source = (query ?? {}) as Record<string, unknown>;
  for (const name of LIST_PARAMETERS) {
    const value = source[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new ScimError(400, `${name} may be given once`, 'invalidValue');
    parameters[name] = value;
  }
  return parameters;
}

function bodyOf(request: FastifyRequest): unknown {
  if (request.body === undefined || request.body === null) throw new ScimError(400, 'a JSON body is required', 'invalidSyntax');
  return request.body;
}

function header(request: FastifyRequest, name: 'if-match' | 'if-none-match'): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function versionOf(document: ScimDocument): string {
  return (document.meta as { version: string }).version;
}

/**
 * The SCIM 2.0 service (RFC 7644) at /scim/v2: its own authentication (an organization's SCIM
 * token), content type and error shape, registered apart from the /v1 management API.
 */
export const scimRoutes: FastifyPluginAsync<{
  tokens: ScimTokens;
  users: ScimUsers;
  groups: ScimGroups;
  discovery: ScimDiscovery;
  rateLimit: RateLimit;
}> = async (app, { tokens, users, groups, discovery, rateLimit }) => {
  app.setErrorHandler((error: FastifyError, request, reply) => sendError(reply, toScimError(error, request)));
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new ScimError(404, `no SCIM endpoint ${request.method} ${request.url.split('?')[0]}`)),
  );
  app.addHook('onRequest', async (request) => {
    const token = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    const caller = token ? await tokens.authenticate(token) : undefined;
    if (!caller)
      throw new ScimError(401, 'a valid SCIM token is required: Authorization: Bearer mnd_scim_…', undefined, {
        'www-authenticate': CHALLENGE,
      });
    request.scimCaller = caller;
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (payload !== undefined && payload !== null && reply.statusCode !== 204 && reply.statusCode !== 304)
      reply.header('content-type', SCIM_CONTENT_TYPE);
    return payload;
  });

  const options = { schema: { hide: true }, config: { rateLimit } };
  const caller = (request: FastifyRequest): ScimCaller => request.scimCaller as ScimCaller;
  const contextOf = (request: FastifyRequest): AuditContext => ({ ...auditContextOf(request), actorId: caller(request).tokenId });

  app.get('/ServiceProviderConfig', options, async () => discovery.serviceProviderConfig());
  app.get('/ResourceTypes', options, async () => ScimDiscovery.list(discovery.resourceTypes()));
  app.get<{ Params: { id: string } }>('/ResourceTypes/:id', options, async (request) => discovery.resourceType(request.params.id));
  app.get('/Schemas', options, async () => ScimDiscovery.list(discovery.schemas()));
  app.get<{ Params: { id: string } }>('/Schemas/:id', options, async (request) => discovery.schema(request.params.id));

  const resources = (path: string, service: ScimResources) => {
    const respond = (request: FastifyRequest, reply: FastifyReply, document: ScimDocument, status = 200) =>
      reply
        .code(status)
        .header('etag', versionOf(document))
        .send(project(document, projectionOf(parametersOf(request.query)), service.schema));

    app.get(path, options, async (request) => service.list(caller(request).orgId, parametersOf(request.query)));
    app.post(path, options, async (request, reply) => {
      const created = await service.create(caller(request).orgId, bodyOf(request), contextOf(request));
      reply.header('location', (created.meta as { location: string }).location);
      return respond(request, reply, created, 201);
    });
    app.get<{ Params: { id: string } }>(`${path}/:id`, options, async (request, reply) => {
      const document = await service.get(caller(request).orgId, request.params.id);
      if (notModified(header(request, 'if-none-match'), versionOf(document)))
        return reply.code(304).header('etag', versionOf(document)).send();
      return respond(request, reply, document);
    });
    app.put<{ Params: { id: string } }>(`${path}/:id`, options, async (request, reply) => {
      const { orgId } = caller(request);
      const document = await service.replace(orgId, request.params.id, bodyOf(request), header(request, 'if-match'), contextOf(request));
      return respond(request, reply, document);
    });
    app.patch<{ Params: { id: string } }>(`${path}/:id`, options, async (request, reply) => {
      const { orgId } = caller(request);
      const document = await service.patch(orgId, request.params.id, bodyOf(request), header(request, 'if-match'), contextOf(request));
      return respond(request, reply, document);
    });
    app.delete<{ Params: { id: string } }>(`${path}/:id`, options, async (request, reply) => {
      await service.remove(caller(request).orgId, request.params.id, header(request, 'if-match'), contextOf(request));
      return reply.code(204).send();
    });
  };
  resources('/Users', users);
  resources('/Groups', groups);
};
