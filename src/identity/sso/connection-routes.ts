import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ErrorBody, errorResponses, OrgParams } from '../../http/common-schemas.js';
import { auditContextOf } from '../../http/request-context.js';
import type { SsoConnections } from './connections.js';
import { CreateSsoConnection, SsoConnection, SsoConnectionParams, UpdateSsoConnection } from './schemas.js';

/** SSO connections of an organization (admin key, inside the /v1 admin block). */
export const ssoConnectionRoutes: FastifyPluginAsyncTypebox<{ connections: SsoConnections }> = async (app, { connections }) => {
  const tags = ['sso'];
  const security = [{ adminKey: [] }];
  const responses = { ...errorResponses, 502: Type.Ref(ErrorBody) };
  app.post(
    '/organizations/:org/sso-connections',
    {
      schema: {
        tags,
        security,
        summary: 'Connect an identity provider (OIDC or SAML)',
        params: OrgParams,
        body: CreateSsoConnection,
        response: { 201: SsoConnection, ...responses },
      },
    },
    async (request, reply) => reply.code(201).send(await connections.create(request.params.org, request.body, auditContextOf(request))),
  );
  app.get(
    '/organizations/:org/sso-connections',
    {
      schema: { tags, security, params: OrgParams, response: { 200: Type.Object({ data: Type.Array(SsoConnection) }), ...errorResponses } },
    },
    async (request) => ({ data: await connections.list(request.params.org) }),
  );
  app.get(
    '/organizations/:org/sso-connections/:connection',
    { schema: { tags, security, params: SsoConnectionParams, response: { 200: SsoConnection, ...errorResponses } } },
    async (request) => connections.get(request.params.org, request.params.connection),
  );
  app.patch(
    '/organizations/:org/sso-connections/:connection',
    {
      schema: {
        tags,
        security,
        summary: 'Change a connection; disabling the last way in of an organization that requires SSO is refused (409)',
        params: SsoConnectionParams,
        body: UpdateSsoConnection,
        response: { 200: SsoConnection, ...responses },
      },
    },
    async (request) => connections.update(request.params.org, request.params.connection, request.body, auditContextOf(request)),
  );
  app.delete(
    '/organizations/:org/sso-connections/:connection',
    { schema: { tags, security, params: SsoConnectionParams, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await connections.remove(request.params.org, request.params.connection, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
};
