import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses, OrgParams } from '../../http/common-schemas.js';
import { auditContextOf } from '../../http/request-context.js';
import { AuditSink, CreateAuditSink, CreatedAuditSink } from './schemas.js';
import type { AuditSinks } from './sinks.js';

/** `/v1/organizations/{org}/audit/sinks`: webhook sinks that stream the organization's audit chain to a SIEM. */
export const auditSinkRoutes: FastifyPluginAsyncTypebox<{ sinks: AuditSinks }> = async (app, { sinks }) => {
  const tags = ['audit'];
  const security = [{ adminKey: [] }];
  app.post(
    '/organizations/:org/audit/sinks',
    {
      schema: {
        tags,
        security,
        summary: 'Create a webhook sink; the response carries its signing secret, shown only this once',
        params: OrgParams,
        body: CreateAuditSink,
        response: { 201: CreatedAuditSink, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .header('cache-control', 'no-store')
        .send(await sinks.create(request.params.org, request.body, auditContextOf(request))),
  );
  app.get(
    '/organizations/:org/audit/sinks',
    {
      schema: {
        tags,
        security,
        params: OrgParams,
        response: { 200: Type.Object({ data: Type.Array(AuditSink) }), ...errorResponses },
      },
    },
    async (request) => ({ data: await sinks.list(request.params.org) }),
  );
  app.delete(
    '/organizations/:org/audit/sinks/:sink',
    {
      schema: {
        tags,
        security,
        params: Type.Object({ org: OrgParams.properties.org, sink: Type.String({ minLength: 1, maxLength: 100 }) }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await sinks.remove(request.params.org, request.params.sink, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
};
