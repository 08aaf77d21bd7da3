import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses, OrgParams, pageOf } from '../http/common-schemas.js';
import { DEFAULT_PAGE_SIZE, PageQuery } from '../http/pagination.js';
import { auditContextOf } from '../http/request-context.js';
import type { Agents } from './agents.js';
import { Agent, CreateAgent, StatusChange, UpdateAgent } from './schemas.js';

const AgentParams = Type.Object({ org: OrgParams.properties.org, agent: Type.String({ minLength: 1, maxLength: 100 }) });

/** /v1/organizations/{org}/agents: the agent registry and its lifecycle (kill switch included). */
export const agentRoutes: FastifyPluginAsyncTypebox<{ agents: Agents }> = async (app, { agents }) => {
  const tags = ['agents'];
  const security = [{ adminKey: [] }];
  app.post(
    '/organizations/:org/agents',
    { schema: { tags, security, params: OrgParams, body: CreateAgent, response: { 201: Agent, ...errorResponses } } },
    async (request, reply) => reply.code(201).send(await agents.create(request.params.org, request.body, auditContextOf(request))),
  );
  app.get(
    '/organizations/:org/agents',
    {
      schema: {
        tags,
        security,
        params: OrgParams,
        querystring: Type.Object({
          ...PageQuery,
          status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended'), Type.Literal('decommissioned')])),
        }),
        response: { 200: pageOf(Agent), ...errorResponses },
      },
    },
    async (request) =>
      agents.list(request.params.org, {
        cursor: request.query.cursor,
        limit: request.query.limit ?? DEFAULT_PAGE_SIZE,
        status: request.query.status,
      }),
  );
  app.get(
    '/organizations/:org/reports/agents-with-inactive-owners',
    {
      schema: {
        tags,
        security,
        summary: 'Agents whose owner is no longer an active member',
        params: OrgParams,
        response: { 200: Type.Object({ data: Type.Array(Agent) }), ...errorResponses },
      },
    },
    async (request) => ({ data: await agents.withInactiveOwners(request.params.org) }),
  );
  app.get(
    '/organizations/:org/agents/:agent',
    { schema: { tags, security, params: AgentParams, response: { 200: Agent, ...errorResponses } } },
    async (request) => agents.get(request.params.org, request.params.agent),
  );
  app.patch(
    '/organizations/:org/agents/:agent',
    { schema: { tags, security, params: AgentParams, body: UpdateAgent, response: { 200: Agent, ...errorResponses } } },
    async (request) => agents.update(request.params.org, request.params.agent, request.body, auditContextOf(request)),
  );
  for (const action of ['suspend', 'resume', 'decommission'] as const) {
    app.post(
      `/organizations/:org/agents/:agent/${action}`,
      {
        schema: {
          tags,
          security,
          summary: `${action} the agent (with a reason, audited)`,
          params: AgentParams,
          body: StatusChange,
          response: { 200: Agent, ...errorResponses },
        },
      },
      async (request) => agents[action](request.params.org, request.params.agent, request.body, auditContextOf(request)),
    );
  }
};
