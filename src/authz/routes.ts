import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses, OrgParams } from '../http/common-schemas.js';
import { auditContextOf } from '../http/request-context.js';
import type { Organizations } from '../tenancy/organizations.js';
import type { Conditions } from './conditions.js';
import type { GroupRoles } from './group-roles.js';
import type { Roles } from './roles.js';
import { Binding, CreateRole, Role } from './schemas.js';

const RoleParams = Type.Object({ org: OrgParams.properties.org, role: Type.String({ pattern: '^rol_[0-9a-z]{26}$' }) });

/** Roles, role bindings, group roles and Cedar policies under /v1. */
export const authzRoutes: FastifyPluginAsyncTypebox<{
  roles: Roles;
  conditions: Conditions;
  organizations: Organizations;
  groupRoles: GroupRoles;
}> = async (app, { roles, conditions, organizations, groupRoles }) => {
  const tags = ['authz'];
  const security = [{ adminKey: [] }];
  const GroupRoleMappings = Type.Object(
    {
      mappings: Type.Array(
        Type.Object(
          {
            group: Type.String({
              minLength: 1,
              maxLength: 256,
              description: 'An IdP group: a group claim value or a SCIM group displayName.',
            }),
            role_id: Type.String({ pattern: '^rol_[0-9a-z]{26}$' }),
          },
          { additionalProperties: false },
        ),
        { maxItems: 1000 },
      ),
    },
    { additionalProperties: false },
  );
  app.get(
    '/organizations/:org/group-role-mappings',
    {
      schema: {
        tags,
        security,
        summary: 'IdP groups mapped to roles',
        params: OrgParams,
        response: { 200: GroupRoleMappings, ...errorResponses },
      },
    },
    async (request) => ({ mappings: await groupRoles.list(request.params.org) }),
  );
  app.put(
    '/organizations/:org/group-role-mappings',
    {
      schema: {
        tags,
        security,
        summary: 'Replace the IdP group to role mappings (SSO group claims and SCIM groups)',
        params: OrgParams,
        body: GroupRoleMappings,
        response: { 200: GroupRoleMappings, ...errorResponses },
      },
    },
    async (request) => ({ mappings: await groupRoles.replace(request.params.org, request.body.mappings, auditContextOf(request)) }),
  );
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
  const PolicyBody = Type.Object(
    { policies: Type.String({ minLength: 1, maxLength: 100_000, description: 'Cedar policies; name them with @id("…").' }) },
    { additionalProperties: false },
  );
  app.put(
    '/organizations/:org/policies',
    {
      schema: { tags, security, summary: 'Upload a new version of the organization’s Cedar policies', params: OrgParams, body: PolicyBody },
    },
    async (request) =>
      conditions.upload((await organizations.require(request.params.org)).id, request.body.policies, auditContextOf(request)),
  );
  app.get(
    '/organizations/:org/policies',
    { schema: { tags, security, summary: 'The Cedar policies in force', params: OrgParams } },
    async (request) => conditions.current((await organizations.require(request.params.org)).id),
  );
};
