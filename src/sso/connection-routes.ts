import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ErrorBody, errorResponses, OrgParams } from '../http/common-schemas.js';
import { auditContextOf } from '../http/request-context.js';
import type { SsoConnections } from './connections.js';
import type { IdentityLinks } from './identity-links.js';
import { CreateSsoConnection, SsoConnection, SsoConnectionParams, UpdateSsoConnection } from './schemas.js';

/** SSO connections of an organization (admin key, inside the /v1 admin block). */
export const ssoConnectionRoutes: FastifyPluginAsyncTypebox<{ connections: SsoConnections; links: IdentityLinks }> = async (
  app,
  { connections, links },
) => {
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
  const MemberParams = Type.Object({ org: OrgParams.properties.org, member: Type.String({ pattern: '^mbr_[0-9a-z]{26}$' }) });
  const IdentityLink = Type.Object({
    connection_id: Type.String(),
    subject: Type.String(),
    created_at: Type.String(),
    last_login_at: Type.Union([Type.String(), Type.Null()]),
  });
  app.get(
    '/organizations/:org/members/:member/identities',
    {
      schema: {
        tags,
        security,
        summary: 'IdP subjects linked to a member',
        params: MemberParams,
        response: { 200: Type.Object({ data: Type.Array(IdentityLink) }), ...errorResponses },
      },
    },
    async (request) => ({ data: await links.list(request.params.org, request.params.member) }),
  );
  app.post(
    '/organizations/:org/members/:member/identities',
    {
      schema: {
        tags,
        security,
        summary: 'Link an IdP subject to a member (for members SSO does not link by email)',
        params: MemberParams,
        body: Type.Object(
          { connection_id: Type.String({ pattern: '^sso_[0-9a-z]{26}$' }), subject: Type.String({ minLength: 1, maxLength: 512 }) },
          { additionalProperties: false },
        ),
        response: { 201: IdentityLink, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await links.link(request.params.org, request.params.member, request.body, auditContextOf(request))),
  );
  app.delete(
    '/organizations/:org/members/:member/identities/:connection',
    {
      schema: {
        tags,
        security,
        params: Type.Object({ ...MemberParams.properties, connection: Type.String({ pattern: '^sso_[0-9a-z]{26}$' }) }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await links.unlink(request.params.org, request.params.member, request.params.connection, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
};
