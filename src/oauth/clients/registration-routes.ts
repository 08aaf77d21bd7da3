import type { FastifyInstance } from 'fastify';
import type { RateLimit } from '../../http/rate-limit.js';
import { auditContextOf } from '../../http/request-context.js';
import { refuseOtherMethods } from '../post-only.js';
import type { ClientRegistration } from './registration.js';

export const REGISTRATION_PATH = '/oauth2/register';

/** RFC 7591 registration and RFC 7592 management (read, replace, delete). */
export async function registrationRoutes(
  app: FastifyInstance,
  options: { registration: ClientRegistration; rateLimit: RateLimit },
): Promise<void> {
  const { registration } = options;
  const config = { oauth: true, rateLimit: options.rateLimit };
  const tags = ['oauth'];
  const params = {
    type: 'object',
    properties: { client: { type: 'string', pattern: '^cli_[0-9a-z]{26}$' } },
    required: ['client'],
  } as const;
  const noStore = { 'cache-control': 'no-store', pragma: 'no-cache' };

  app.post(REGISTRATION_PATH, { config, schema: { tags, summary: 'Dynamic client registration (RFC 7591)' } }, async (request, reply) =>
    reply
      .code(201)
      .headers(noStore)
      .send(await registration.register(request.headers.authorization, request.body, auditContextOf(request))),
  );
  refuseOtherMethods(app, REGISTRATION_PATH);
  app.get(
    `${REGISTRATION_PATH}/:client`,
    { config, schema: { tags, params, summary: 'Read a registration (RFC 7592)' } },
    async (request, reply) =>
      reply.headers(noStore).send(await registration.read((request.params as { client: string }).client, request.headers.authorization)),
  );
  app.put(
    `${REGISTRATION_PATH}/:client`,
    { config, schema: { tags, params, summary: 'Replace a registration (RFC 7592)' } },
    async (request, reply) =>
      reply
        .headers(noStore)
        .send(
          await registration.update(
            (request.params as { client: string }).client,
            request.headers.authorization,
            request.body,
            auditContextOf(request),
          ),
        ),
  );
  app.delete(
    `${REGISTRATION_PATH}/:client`,
    { config, schema: { tags, params, summary: 'Delete a registration (RFC 7592)' } },
    async (request, reply) => {
      await registration.remove((request.params as { client: string }).client, request.headers.authorization, auditContextOf(request));
      return reply.code(204).send();
    },
  );
}
