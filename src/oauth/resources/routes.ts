import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses, pageOf } from '../../http/common-schemas.js';
import { DEFAULT_PAGE_SIZE, PageQuery } from '../../http/pagination.js';
import { auditContextOf } from '../../http/request-context.js';
import { DisplayName } from '../../tenancy/schemas.js';
import type { ResourceCredentials } from './credentials.js';
import type { Resources } from './resources.js';
import { CreateResource, Resource, UpdateResource } from './schemas.js';

const ResourceParams = Type.Object({ resource: Type.String({ minLength: 1, maxLength: 2048, description: 'Resource id or identifier.' }) });

const ResourceCredential = Type.Object({
  id: Type.String({ example: 'rsc_01jqz5x3m4c5d6e7f8g9h0jkmn', description: 'The username for HTTP Basic at /oauth2/introspect.' }),
  resource_id: Type.String(),
  name: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  revoked_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

/** /v1/resources: the APIs and MCP servers that accept Mandate tokens. */
export const resourceRoutes: FastifyPluginAsyncTypebox<{ resources: Resources; credentials: ResourceCredentials }> = async (
  app,
  { resources, credentials },
) => {
  const tags = ['resources'];
  const security = [{ adminKey: [] }];

  app.post(
    '/resources',
    { schema: { tags, security, body: CreateResource, response: { 201: Resource, ...errorResponses } } },
    async (request, reply) => reply.code(201).send(await resources.create(request.body, auditContextOf(request))),
  );
  app.get(
    '/resources',
    { schema: { tags, security, querystring: Type.Object(PageQuery), response: { 200: pageOf(Resource), ...errorResponses } } },
    async (request) => resources.list({ cursor: request.query.cursor, limit: request.query.limit ?? DEFAULT_PAGE_SIZE }),
  );
  app.get(
    '/resources/:resource',
    { schema: { tags, security, params: ResourceParams, response: { 200: Resource, ...errorResponses } } },
    async (request) => resources.get(request.params.resource),
  );
  app.patch(
    '/resources/:resource',
    { schema: { tags, security, params: ResourceParams, body: UpdateResource, response: { 200: Resource, ...errorResponses } } },
    async (request) => resources.update(request.params.resource, request.body, auditContextOf(request)),
  );
  app.delete(
    '/resources/:resource',
    { schema: { tags, security, params: ResourceParams, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await resources.remove(request.params.resource, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );

  // A resource server's own credential for introspection (RFC 7662 §2.1): HTTP Basic with the
  // credential id as username and the secret as password; it reads exactly the tokens whose `aud`
  // is this resource, of every organization. Rotate by creating a new one, then revoking the old.
  app.post(
    '/resources/:resource/credentials',
    {
      schema: {
        tags,
        security,
        summary: 'Create an introspection credential for the resource server',
        params: ResourceParams,
        body: Type.Object({ name: DisplayName }, { additionalProperties: false }),
        response: {
          201: Type.Composite([
            ResourceCredential,
            Type.Object({ secret: Type.String({ description: 'mnd_rs_…: shown once, never again.' }) }),
          ]),
          ...errorResponses,
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .header('cache-control', 'no-store')
        .send(await credentials.create(request.params.resource, request.body.name, auditContextOf(request))),
  );
  app.get(
    '/resources/:resource/credentials',
    {
      schema: {
        tags,
        security,
        summary: "List the resource's credentials (never the secrets)",
        params: ResourceParams,
        response: { 200: Type.Object({ data: Type.Array(ResourceCredential) }), ...errorResponses },
      },
    },
    async (request) => ({ data: await credentials.list(request.params.resource) }),
  );
  app.delete(
    '/resources/:resource/credentials/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Revoke a resource credential, at once on every node',
        params: Type.Object({ resource: ResourceParams.properties.resource, id: Type.String({ minLength: 1, maxLength: 100 }) }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await credentials.revoke(request.params.resource, request.params.id, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
};
