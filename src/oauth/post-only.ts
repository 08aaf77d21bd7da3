import type { FastifyInstance } from 'fastify';

/**
 * RFC 9110 §15.5.6: a POST-only protocol endpoint answers other methods 405 with `Allow: POST`,
 * in the RFC 6749 §5.2 error shape its clients parse, instead of a 404 that suggests it is absent.
 */
export function refuseOtherMethods(app: FastifyInstance, path: string): void {
  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: path,
    config: { oauth: true },
    schema: { hide: true },
    handler: async (request, reply) =>
      reply
        .code(405)
        .header('allow', 'POST')
        .header('cache-control', 'no-store')
        .send({ error: 'invalid_request', error_description: `${path} accepts only POST, not ${request.method}` }),
  });
}
