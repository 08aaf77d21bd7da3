import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses, pageOf } from '../../http/common-schemas.js';
import { DEFAULT_PAGE_SIZE, PageQuery } from '../../http/pagination.js';
import { auditContextOf } from '../../http/request-context.js';
import type { Resources } from './resources.js';
import { CreateResource, Resource, UpdateResource } from './schemas.js';

const ResourceParams = Type.Object({ resource: Type.String({ minLength: 1, maxLength: 2048, description: 'Resource id or identifier.' }) });

/** /v1/resources: the APIs and MCP servers that accept Mandate tokens. */
export const resourceRoutes: FastifyPluginAsyncTypebox<{ resources: Resources }> = async (app, { resources }) => {
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
};
