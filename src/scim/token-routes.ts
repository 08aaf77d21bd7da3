import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses, OrgParams } from '../http/common-schemas.js';
import { auditContextOf } from '../http/request-context.js';
import { DisplayName } from '../tenancy/schemas.js';
import type { ScimTokens } from './scim-tokens.js';

const ScimToken = Type.Object({
  id: Type.String({ example: 'sct_01jqz5x3m4c5d6e7f8g9h0jkmn' }),
  name: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revoked_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

/** SCIM tokens of an organization (admin key, inside the /v1 admin block). */
export const scimTokenRoutes: FastifyPluginAsyncTypebox<{ scimTokens: ScimTokens }> = async (app, { scimTokens }) => {
  const tags = ['scim'];
  const security = [{ adminKey: [] }];
  app.post(
    '/organizations/:org/scim-tokens',
    {
      schema: {
        tags,
        security,
        summary: 'Create a SCIM token: the IdP provisions the organization at /scim/v2 with it',
        params: OrgParams,
        body: Type.Object({ name: DisplayName }, { additionalProperties: false }),
        response: {
          201: Type.Composite([ScimToken, Type.Object({ token: Type.String({ description: 'mnd_scim_…: shown once, never again.' }) })]),
          ...errorResponses,
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .header('cache-control', 'no-store')
        .send(await scimTokens.create(request.params.org, request.body.name, auditContextOf(request))),
  );
  app.get(
    '/organizations/:org/scim-tokens',
    {
      schema: {
        tags,
        security,
        summary: 'List SCIM tokens (never the tokens themselves)',
        params: OrgParams,
        response: { 200: Type.Object({ data: Type.Array(ScimToken) }), ...errorResponses },
      },
    },
    async (request) => ({ data: await scimTokens.list(request.params.org) }),
  );
  app.delete(
    '/organizations/:org/scim-tokens/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Revoke a SCIM token, at once on every node',
        params: Type.Object({ org: OrgParams.properties.org, id: Type.String({ minLength: 1, maxLength: 100 }) }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await scimTokens.revoke(request.params.org, request.params.id, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
};
