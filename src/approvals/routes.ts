import cookie from '@fastify/cookie';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { ErrorBody, errorResponses, OrgParams } from '../http/common-schemas.js';
import { auditContextOf } from '../http/request-context.js';
import { sessionAuthHook } from '../sessions/auth-hook.js';
import type { ActiveSession, Sessions } from '../sessions/sessions.js';
import type { Approvals } from './approvals.js';

const Policy = Type.Object({
  approvers: Type.Union([Type.Literal('user'), Type.Literal('role')]),
  tools: Type.Array(Type.String()),
  required: Type.Integer(),
  forbidRequester: Type.Boolean(),
});
const DetailType = Type.Object({ type: Type.String(), description: Type.String(), schema: Type.Unknown(), policy: Policy });
const Approval = Type.Object({
  id: Type.String(),
  org_id: Type.String(),
  member_id: Type.String(),
  agent_id: Type.Union([Type.String(), Type.Null()]),
  client_id: Type.String(),
  member: Type.Object({
    id: Type.String(),
    name: Type.Union([Type.String(), Type.Null()]),
    email: Type.Union([Type.String(), Type.Null()]),
  }),
  agent: Type.Union([Type.Object({ id: Type.String(), name: Type.Union([Type.String(), Type.Null()]) }), Type.Null()]),
  client: Type.Object({ id: Type.String(), name: Type.Union([Type.String(), Type.Null()]) }),
  resource: Type.String({ description: 'The audience of the token an approval yields.' }),
  scope: Type.String({ description: 'The scope of the token an approval yields (space-separated; may be empty).' }),
  authorization_details: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  binding_message: Type.Union([Type.String(), Type.Null()]),
  policy: Policy,
  status: Type.String(),
  approvals: Type.Integer(),
  expires_at: Type.String(),
  created_at: Type.String(),
});
const ApprovalParams = Type.Object({ approval: Type.String({ pattern: '^apr_[0-9a-z]{26}$' }) });

/** Authorization details types and their approval policies (admin key, inside the /v1 admin block). */
export const approvalTypeRoutes: FastifyPluginAsyncTypebox<{ approvals: Approvals }> = async (app, { approvals }) => {
  const tags = ['approvals'];
  const security = [{ adminKey: [] }];
  app.post(
    '/organizations/:org/authorization-detail-types',
    {
      schema: {
        tags,
        security,
        params: OrgParams,
        body: Type.Object(
          {
            type: Type.String({ minLength: 1, maxLength: 100, pattern: '^[a-z0-9][a-z0-9_.:/-]*$' }),
            description: Type.String({ minLength: 1, maxLength: 500 }),
            schema: Type.Record(Type.String(), Type.Unknown(), {
              description: 'JSON Schema of one authorization details object of this type.',
            }),
            approvers: Type.Union([Type.Literal('user'), Type.Literal('role')]),
            tools: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 20, uniqueItems: true })),
            required: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
            forbid_requester: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: { 201: DetailType, ...errorResponses },
      },
    },
    async (request, reply) => reply.code(201).send(await approvals.registerType(request.params.org, request.body, auditContextOf(request))),
  );
  app.get(
    '/organizations/:org/authorization-detail-types',
    { schema: { tags, security, params: OrgParams, response: { 200: Type.Object({ data: Type.Array(DetailType) }), ...errorResponses } } },
    async (request) => ({ data: await approvals.listTypes(request.params.org) }),
  );
};

/** /v1/approvals: the approvals inbox as JSON, for members (session), e.g. behind a Slack bot. */
export const approvalRoutes: FastifyPluginAsyncTypebox<{ approvals: Approvals; sessions: Sessions }> = async (
  app,
  { approvals, sessions },
) => {
  await app.register(cookie);
  const onRequest = sessionAuthHook(sessions, { personal: 'decide approvals' });
  const current = (request: FastifyRequest): ActiveSession => request.session as ActiveSession;
  const tags = ['approvals'];
  const responses = { ...errorResponses, 403: Type.Ref(ErrorBody) };
  app.get(
    '/approvals',
    {
      onRequest,
      schema: {
        tags,
        summary: 'Pending requests I may decide',
        response: { 200: Type.Object({ data: Type.Array(Approval) }), ...responses },
      },
    },
    async (request) => ({ data: await approvals.pending(current(request)) }),
  );
  app.get(
    '/approvals/:approval',
    { onRequest, schema: { tags, params: ApprovalParams, response: { 200: Approval, ...responses } } },
    async (request) => approvals.get(current(request), request.params.approval),
  );
  for (const decision of ['approve', 'deny'] as const) {
    app.post(
      `/approvals/:approval/${decision}`,
      {
        onRequest,
        schema: {
          tags,
          summary: `${decision} (per the request's policy)`,
          params: ApprovalParams,
          response: { 200: Approval, ...responses },
        },
      },
      async (request) => approvals.decide(current(request), request.params.approval, decision, auditContextOf(request)),
    );
  }
};
