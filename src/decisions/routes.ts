import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { CheckRequest } from '../authz/schemas.js';
import { auditContextOf } from '../http/request-context.js';
import type { Decisions } from './decisions.js';

/** The decision point under /v1: one check, or a batch. */
export const decisionRoutes: FastifyPluginAsyncTypebox<{ decisions: Decisions }> = async (app, { decisions }) => {
  const tags = ['authz'];
  const security = [{ adminKey: [] }];
  app.post(
    '/authz/check/batch',
    {
      schema: {
        tags,
        security,
        summary: 'Several decisions in one call (each audited)',
        body: Type.Object({ checks: Type.Array(CheckRequest, { minItems: 1, maxItems: 100 }) }, { additionalProperties: false }),
      },
    },
    async (request) => {
      const context = auditContextOf(request);
      // Concurrently, so the audit events of one batch share a group commit.
      return { results: await Promise.all(request.body.checks.map((check) => decisions.check(check, context))) };
    },
  );
  app.post(
    '/authz/check',
    {
      schema: { tags, security, summary: 'Decide whether a user, an agent, or an agent for a user may do tool:action', body: CheckRequest },
    },
    async (request) => decisions.check(request.body, auditContextOf(request)),
  );
};
