import type { DecisionRequest } from '../authz/decision.js';

/**
 * Whether what a person approved (RFC 9396 authorization details on a CIBA token) describes this
 * request: some object names its tool (`tool`, or its `type` when it names no tool) and its
 * `action`, and, where it names them, its environment and classification. A CIBA token carries
 * exactly one approval, so anything the approval does not describe is refused.
 */
export function describedByDetails(details: readonly Record<string, unknown>[], request: DecisionRequest): boolean {
  return details.some((detail) => {
    const tool = typeof detail.tool === 'string' ? detail.tool : detail.type;
    if (tool !== request.tool || detail.action !== request.action) return false;
    if (detail.environment !== undefined && detail.environment !== request.environment) return false;
    if (detail.classification !== undefined && detail.classification !== request.classification) return false;
    return true;
  });
}
