import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AdminKeys } from '../admin-keys/admin-keys.js';
import { Classification } from '../agents/schemas.js';
import { ErrorBody, errorResponses } from '../http/common-schemas.js';
import type { AccessTokens } from '../oauth/tokens/access-token.js';
import { callerHook, callerOf } from './caller.js';
import type { Intents } from './intents.js';
import type { Runs } from './runs.js';

const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '^[a-z0-9][a-z0-9_.-]*$' });
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);
const Detail = Type.Record(Type.String({ maxLength: 100 }), Type.Unknown(), { description: 'Public context; never a secret.' });

const Principals = {
  token: Type.Optional(Type.String({ maxLength: 8192, description: 'The Mandate access token the agent acts under.' })),
  organization: Type.Optional(Type.String({ maxLength: 100, description: 'Organization id or slug, when no token is given.' })),
  member_id: Type.Optional(Type.String({ pattern: '^mbr_[0-9a-z]{26}$' })),
  agent_id: Type.Optional(Type.String({ pattern: '^agt_[0-9a-z]{26}$' })),
  grant_id: Type.Optional(Type.String({ pattern: '^grt_[0-9a-z]{26}$' })),
};

const IntentBody = Type.Object(
  {
    ...Principals,
    tool: Name,
    action: Name,
    classification: Type.Optional(Classification),
    run_id: Type.Optional(Type.String({ pattern: '^run_[0-9a-z]{26}$' })),
    step: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    detail: Type.Optional(Detail),
  },
  { additionalProperties: false },
);
const Intent = Type.Object({
  id: Type.String(),
  org_id: Type.String(),
  correlation_id: Type.String(),
  started_at: Type.String({ format: 'date-time' }),
  grant_valid: Type.Union([Type.Boolean(), Type.Null()]),
  run_id: Nullable(Type.String()),
});
const OutcomeBody = Type.Object(
  {
    result: Type.Union([Type.Literal('success'), Type.Literal('failure')]),
    error_code: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.:-]+$' })),
    detail: Type.Optional(Detail),
    state: Type.Optional(Type.Unknown({ description: 'For a run step: the state a resumed run starts from.' })),
  },
  { additionalProperties: false },
);
const Outcome = Type.Object({
  id: Type.String(),
  intent_id: Type.String(),
  result: Type.String(),
  started_at: Type.String({ format: 'date-time' }),
  ended_at: Type.String({ format: 'date-time' }),
  latency_ms: Type.Integer(),
  grant_valid: Type.Union([Type.Boolean(), Type.Null()]),
});
const Run = Type.Object({
  id: Type.String(),
  org_id: Type.String(),
  agent_id: Nullable(Type.String()),
  member_id: Nullable(Type.String()),
  client_id: Nullable(Type.String()),
  grant_id: Nullable(Type.String()),
  name: Type.String(),
  correlation_id: Type.String(),
  status: Type.String(),
  steps_completed: Type.Integer(),
  last_successful_step: Type.Union([Type.Object({ name: Type.String(), event_id: Type.String(), state: Type.Unknown() }), Type.Null()]),
  resumable: Type.Boolean(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});
const RunParams = Type.Object({ run: Type.String({ pattern: '^run_[0-9a-z]{26}$' }) });
const responses = { ...errorResponses, 403: Type.Ref(ErrorBody) };

/**
 * Tool intents and outcomes, and resumable runs, under /v1: an admin key naming principals, or
 * the agent's (or MCP server's) Mandate access token, which confines it to its own records.
 */
export const intentRoutes: FastifyPluginAsyncTypebox<{
  intents: Intents;
  runs: Runs;
  adminKeys: AdminKeys;
  accessTokens: AccessTokens;
}> = async (app, { intents, runs, adminKeys, accessTokens }) => {
  app.addHook('onRequest', callerHook(adminKeys, accessTokens));
  const tags = ['audit'];
  const security: Record<string, string[]>[] = [{ adminKey: [] }, { accessToken: [] }];
  app.post(
    '/audit/intents',
    { schema: { tags, security, body: IntentBody, response: { 201: Intent, ...responses } } },
    async (request, reply) => {
      const { caller, context } = callerOf(request);
      return reply.code(201).send(await intents.open(request.body, context, caller));
    },
  );
  app.post(
    '/audit/intents/:intent/outcome',
    {
      schema: {
        tags,
        security,
        params: Type.Object({ intent: Type.String({ pattern: '^evt_[0-9a-z]{26}$' }) }),
        body: OutcomeBody,
        response: { 201: Outcome, ...responses },
      },
    },
    async (request, reply) => {
      const { caller, context } = callerOf(request);
      return reply.code(201).send(await intents.complete(request.params.intent, request.body, context, caller));
    },
  );
  app.post(
    '/runs',
    {
      schema: {
        tags,
        security,
        body: Type.Object({ ...Principals, name: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
        response: { 201: Run, ...responses },
      },
    },
    async (request, reply) => {
      const { caller, context } = callerOf(request);
      return reply.code(201).send(await runs.create(request.body, context, caller));
    },
  );
  app.get('/runs/:run', { schema: { tags, security, params: RunParams, response: { 200: Run, ...responses } } }, async (request) =>
    runs.get(request.params.run, callerOf(request).caller),
  );
  app.post(
    '/runs/:run/finish',
    {
      schema: {
        tags,
        security,
        params: RunParams,
        body: Type.Object({ status: Type.Union([Type.Literal('completed'), Type.Literal('failed')]) }, { additionalProperties: false }),
        response: { 200: Run, ...responses },
      },
    },
    async (request) => {
      const { caller, context } = callerOf(request);
      return runs.finish(request.params.run, request.body.status, context, caller);
    },
  );
};
