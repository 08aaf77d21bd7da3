import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses, OrgParams, pageOf } from '../../http/common-schemas.js';
import { DEFAULT_PAGE_SIZE, PageQuery } from '../../http/pagination.js';
import { auditContextOf } from '../../http/request-context.js';
import type { Clients } from './clients.js';
import { Client, ClientWithSecret, CreateClient, RotateSecret, UpdateClient } from './schemas.js';

const ClientParams = Type.Object({ org: OrgParams.properties.org, client: Type.String({ minLength: 1, maxLength: 100 }) });

/** /v1/organizations/{org}/clients: admin-registered OAuth clients. */
export const clientRoutes: FastifyPluginAsyncTypebox<{ clients: Clients }> = async (app, { clients }) => {
  const tags = ['clients'];
  const security = [{ adminKey: [] }];

  app.post(
    '/organizations/:org/clients',
    { schema: { tags, security, params: OrgParams, body: CreateClient, response: { 201: ClientWithSecret, ...errorResponses } } },
    async (request, reply) =>
      reply
        .code(201)
        .header('cache-control', 'no-store')
        .send(await clients.create(request.params.org, request.body, auditContextOf(request))),
  );
  app.get(
    '/organizations/:org/clients',
    {
      schema: {
        tags,
        security,
        params: OrgParams,
        querystring: Type.Object(PageQuery),
        response: { 200: pageOf(Client), ...errorResponses },
      },
    },
    async (request) => clients.list(request.params.org, { cursor: request.query.cursor, limit: request.query.limit ?? DEFAULT_PAGE_SIZE }),
  );
  app.get(
    '/organizations/:org/clients/:client',
    { schema: { tags, security, params: ClientParams, response: { 200: Client, ...errorResponses } } },
    async (request) => clients.get(request.params.org, request.params.client),
  );
  app.patch(
    '/organizations/:org/clients/:client',
    { schema: { tags, security, params: ClientParams, body: UpdateClient, response: { 200: Client, ...errorResponses } } },
    async (request) => clients.update(request.params.org, request.params.client, request.body, auditContextOf(request)),
  );
  app.delete(
    '/organizations/:org/clients/:client',
    { schema: { tags, security, params: ClientParams, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await clients.remove(request.params.org, request.params.client, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
  app.post(
    '/organizations/:org/clients/:client/secrets',
    {
      schema: {
        tags,
        security,
        summary: 'Rotate the client secret, keeping the previous one valid for an overlap window',
        params: ClientParams,
        body: RotateSecret,
        response: { 201: Type.Object({ client_secret: Type.String(), previous_expires_at: Type.String() }), ...errorResponses },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .header('cache-control', 'no-store')
        .send(await clients.rotateSecret(request.params.org, request.params.client, request.body, auditContextOf(request))),
  );
};
