import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses, OrgParams } from '../http/common-schemas.js';
import { auditContextOf } from '../http/request-context.js';
import type { Organizations } from '../tenancy/organizations.js';
import type { AgentRestrictions } from './restrictions.js';

const AgentParams = Type.Object({ org: OrgParams.properties.org, agent: Type.String({ minLength: 1, maxLength: 100 }) });
const Restriction = Type.Union([Type.Literal('read_only'), Type.Literal('approval_required'), Type.Null()], {
  description:
    'read_only: new tokens carry read scopes only and non-read decisions deny; approval_required: every allow becomes approval_required; null: none.',
});

/**
 * /v1/organizations/{org}/agents/{agent}/restriction: what an anomaly response left on an agent,
 * and how an administrator lifts it (or sets it by hand). Admin-authenticated like the agent routes.
 */
export const anomalyRoutes: FastifyPluginAsyncTypebox<{ restrictions: AgentRestrictions; organizations: Organizations }> = async (
  app,
  { restrictions, organizations },
) => {
  const tags = ['agents'];
  const security = [{ adminKey: [] }];
  const Body = Type.Object({ restriction: Restriction }, { additionalProperties: false });
  app.get(
    '/organizations/:org/agents/:agent/restriction',
    {
      schema: {
        tags,
        security,
        summary: 'The agent’s anomaly restriction',
        params: AgentParams,
        response: { 200: Body, ...errorResponses },
      },
    },
    async (request) => {
      const org = await organizations.require(request.params.org);
      return restrictions.get(org.id, request.params.agent);
    },
  );
  app.put(
    '/organizations/:org/agents/:agent/restriction',
    {
      schema: {
        tags,
        security,
        summary: 'Set or lift (null) the agent’s anomaly restriction',
        params: AgentParams,
        body: Type.Object(
          { restriction: Restriction, reason: Type.String({ minLength: 3, maxLength: 500, pattern: '^[^\\u0000-\\u001f\\u007f]*$' }) },
          { additionalProperties: false },
        ),
        response: { 200: Body, ...errorResponses },
      },
    },
    async (request) => {
      const org = await organizations.require(request.params.org);
      return restrictions.set(org.id, request.params.agent, request.body, auditContextOf(request));
    },
  );
};
