import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses, OrgParams } from '../http/common-schemas.js';
import { auditContextOf } from '../http/request-context.js';
import type { Decisions } from './decisions.js';
import type { Roles } from './roles.js';
import { Binding, CheckRequest, CreateRole, Role } from './schemas.js';

const RoleParams = Type.Object({ org: OrgParams.properties.org, role: Type.String({ pattern: '^rol_[0-9a-z]{26}$' }) });

/** Roles, role bindings and decisions under /v1. */
export const authzRoutes: FastifyPluginAsyncTypebox<{ roles: Roles; decisions: Decisions }> = async (app, { roles, decisions }) => {
  const tags = ['authz'];
  const security = [{ adminKey: [] }];
  app.post(
    '/organizations/:org/roles',
    { schema: { tags, security, params: OrgParams, body: CreateRole, response: { 201: Role, ...errorResponses } } },
    async (request, reply) => reply.code(201).send(await roles.create(request.params.org, request.body, auditContextOf(request))),
  );
  app.get(
    '/organizations/:org/roles',
    { schema: { tags, security, params: OrgParams, response: { 200: Type.Object({ data: Type.Array(Role) }), ...errorResponses } } },
    async (request) => ({
      data: await roles.list(request.params.org),
    }),
  );
  app.delete(
    '/organizations/:org/roles/:role',
    { schema: { tags, security, params: RoleParams, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await roles.remove(request.params.org, request.params.role, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
  app.post(
    '/organizations/:org/roles/:role/bindings',
    { schema: { tags, security, params: RoleParams, body: Binding, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await roles.bind(request.params.org, request.params.role, request.body, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
  app.delete(
    '/organizations/:org/roles/:role/bindings/:principal',
    {
      schema: {
        tags,
        security,
        params: Type.Object({ ...RoleParams.properties, principal: Type.String({ pattern: '^(mbr|agt)_[0-9a-z]{26}$' }) }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await roles.unbind(request.params.org, request.params.role, request.params.principal, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
  app.post(
    '/authz/check',
    {
      schema: { tags, security, summary: 'Decide whether a user, an agent, or an agent for a user may do tool:action', body: CheckRequest },
    },
    async (request) => decisions.check(request.body, auditContextOf(request)),
  );
};
