import cookie from '@fastify/cookie';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { Classification, Environment } from '../agents/schemas.js';
import { auditContextOf } from '../http/request-context.js';
import { sessionAuthHook } from '../sessions/auth-hook.js';
import type { ActiveSession, Sessions } from '../sessions/sessions.js';
import { type Elevations, MAX_ELEVATION_MINUTES } from './elevations.js';

const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '^[a-z0-9][a-z0-9_.-]*$' });
const ElevationParams = Type.Object({ elevation: Type.String({ pattern: '^elv_[0-9a-z]{26}$' }) });

/** /v1/elevations: members ask for, and other members decide on, time-bound extra permissions. */
export const elevationRoutes: FastifyPluginAsyncTypebox<{ elevations: Elevations; sessions: Sessions }> = async (
  app,
  { elevations, sessions },
) => {
  await app.register(cookie);
  const onRequest = sessionAuthHook(sessions, { personal: 'ask for or decide elevations' });
  const current = (request: FastifyRequest): ActiveSession => request.session as ActiveSession;
  const tags = ['elevation'];
  app.post(
    '/elevations',
    {
      onRequest,
      schema: {
        tags,
        summary: 'Ask for a permission for a limited time',
        body: Type.Object(
          {
            agent_id: Type.Optional(Type.String({ pattern: '^agt_[0-9a-z]{26}$' })),
            tool: Name,
            action: Name,
            justification: Type.String({ minLength: 10, maxLength: 1000, pattern: '^[^\\u0000-\\u001f\\u007f]*$' }),
            duration_minutes: Type.Integer({ minimum: 1, maximum: MAX_ELEVATION_MINUTES }),
            environments: Type.Optional(
              Type.Array(Environment, {
                minItems: 1,
                uniqueItems: true,
                description: 'Where the permission applies; absent: everywhere (for an agent: its own environment).',
              }),
            ),
            max_classification: Type.Optional(Classification),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => reply.code(201).send(await elevations.request(current(request), request.body, auditContextOf(request))),
  );
  app.get('/elevations', { onRequest, schema: { tags, summary: 'Pending elevations I asked for or may decide' } }, async (request) => ({
    data: await elevations.pending(current(request)),
  }));
  app.get(
    '/elevations/:elevation',
    { onRequest, schema: { tags, summary: 'One elevation I asked for or may decide', params: ElevationParams } },
    async (request) => elevations.get(current(request), request.params.elevation),
  );
  for (const verdict of ['approve', 'deny'] as const) {
    app.post(
      `/elevations/:elevation/${verdict}`,
      {
        onRequest,
        schema: {
          tags,
          summary: `${verdict} an elevation (not your own)`,
          params: ElevationParams,
        },
      },
      async (request) => elevations.decide(current(request), request.params.elevation, verdict === 'approve', auditContextOf(request)),
    );
  }
};
