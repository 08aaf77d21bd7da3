import type { FastifyRequest } from 'fastify';
import type { AuditContext } from '../context.js';
import { correlationIdOf } from './request-id.js';

/** The audit context of a request: its ids and the authenticated caller. */
export function auditContextOf(request: FastifyRequest): AuditContext {
  const requestId = String(request.id);
  return {
    requestId,
    correlationId: correlationIdOf(request.raw, requestId),
    actorId: request.adminKey?.id ?? request.session?.memberId ?? null,
    clientIp: request.ip ?? null,
    ...(request.session?.impersonatorId && { impersonatorId: request.session.impersonatorId }),
  };
}
