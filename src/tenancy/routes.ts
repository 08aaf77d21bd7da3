import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses, OrgParams, pageOf } from '../http/common-schemas.js';
import { PageQuery } from '../http/pagination.js';
import { auditContextOf } from '../http/request-context.js';
import type { Members } from './members.js';
import type { Organizations } from './organizations.js';
import { CreateMember, CreateOrganization, Member, Organization, UpdateMember, UpdateOrganization } from './schemas.js';

const MemberParams = Type.Object({ org: OrgParams.properties.org, member: Type.String({ minLength: 1, maxLength: 100 }) });

/** /v1/organizations and their members: parse, call the service, answer. */
export const tenancyRoutes: FastifyPluginAsyncTypebox<{ organizations: Organizations; members: Members }> = async (
  app,
  { organizations, members },
) => {
  const orgTags = ['organizations'];
  const memberTags = ['members'];
  const security = [{ adminKey: [] }];

  app.post(
    '/organizations',
    { schema: { tags: orgTags, security, body: CreateOrganization, response: { 201: Organization, ...errorResponses } } },
    async (request, reply) => reply.code(201).send(await organizations.create(request.body, auditContextOf(request))),
  );

  app.get(
    '/organizations',
    {
      schema: { tags: orgTags, security, querystring: Type.Object(PageQuery), response: { 200: pageOf(Organization), ...errorResponses } },
    },
    async (request) => organizations.list({ cursor: request.query.cursor, limit: request.query.limit ?? 50 }),
  );

  app.get(
    '/organizations/:org',
    { schema: { tags: orgTags, security, params: OrgParams, response: { 200: Organization, ...errorResponses } } },
    async (request) => organizations.get(request.params.org),
  );

  app.patch(
    '/organizations/:org',
    {
      schema: { tags: orgTags, security, params: OrgParams, body: UpdateOrganization, response: { 200: Organization, ...errorResponses } },
    },
    async (request) => organizations.update(request.params.org, request.body, auditContextOf(request)),
  );

  app.delete(
    '/organizations/:org',
    { schema: { tags: orgTags, security, params: OrgParams, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await organizations.remove(request.params.org, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/organizations/:org/members',
    { schema: { tags: memberTags, security, params: OrgParams, body: CreateMember, response: { 201: Member, ...errorResponses } } },
    async (request, reply) => reply.code(201).send(await members.create(request.params.org, request.body, auditContextOf(request))),
  );

  app.get(
    '/organizations/:org/members',
    {
      schema: {
        tags: memberTags,
        security,
        params: OrgParams,
        querystring: Type.Object({ ...PageQuery, email: Type.Optional(Type.String({ maxLength: 254 })) }),
        response: { 200: pageOf(Member), ...errorResponses },
      },
    },
    async (request) =>
      members.list(request.params.org, { email: request.query.email, cursor: request.query.cursor, limit: request.query.limit ?? 50 }),
  );

  app.get(
    '/organizations/:org/members/:member',
    { schema: { tags: memberTags, security, params: MemberParams, response: { 200: Member, ...errorResponses } } },
    async (request) => members.get(request.params.org, request.params.member),
  );

  app.patch(
    '/organizations/:org/members/:member',
    { schema: { tags: memberTags, security, params: MemberParams, body: UpdateMember, response: { 200: Member, ...errorResponses } } },
    async (request) => members.update(request.params.org, request.params.member, request.body, auditContextOf(request)),
  );

  app.delete(
    '/organizations/:org/members/:member',
    { schema: { tags: memberTags, security, params: MemberParams, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await members.remove(request.params.org, request.params.member, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
};
