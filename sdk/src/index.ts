/**
 * `@mandate/sdk`: accept Mandate access tokens in resource servers and MCP servers.
 *
 * @packageDocumentation
 */

export {
  ActionForbiddenError,
  type ConnectedAccount,
  MandateActionError,
  MandateActions,
  type MandateActionsOptions,
  ReauthorizationRequiredError,
  type ToolExecution,
} from './actions.js';
export { ApprovalError, type ApprovalRequest, type ApprovedToken, MandateApprovals, type MandateApprovalsOptions } from './approvals.js';
export {
  type AuditPrincipals,
  errorCodeOf,
  MandateAudit,
  MandateAuditError,
  type MandateAuditOptions,
  type RecordedIntent,
  type RecordedOutcome,
  type Run,
  type ToolIntent,
} from './audit.js';
export {
  authorizeRequest,
  createRequestAuthorizer,
  type MandateAuthOptions,
  type MandateIntrospectionOptions,
  type RequestAuthorizer,
} from './authorize-request.js';
export { extractBearer } from './bearer.js';
export { audienceIncludes, type MandateActor, type MandateTokenClaims, parseMandateClaims, REQUIRED_CLAIMS } from './claims.js';
export {
  CLASSIFICATIONS,
  type Classification,
  type Decision,
  type DecisionInput,
  type DecisionRequest,
  decide,
  type Effect,
  type Environment,
  type Permission,
  permits,
  scopeCovers,
} from './decision.js';
export { errorResponseOf, type MandateErrorResponse, resourceMetadataUrlOf } from './error-response.js';
export {
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  MandateAuthError,
  type MandateErrorCode,
  MissingTokenError,
  quoteHeaderValue,
} from './errors.js';
export { mandateExpress, registerProtectedResourceMetadataExpress } from './express.js';
export { mandateFastify, registerProtectedResourceMetadata } from './fastify.js';
export { basicAuthorization, type IntrospectTokenOptions, introspectToken } from './introspect.js';
export { decideFromClaims, type KnownPermissions } from './local-decision.js';
export { mandateNodeHttp, type NodeHttpAuthorizer } from './node-http.js';
export {
  type ProtectedResourceMetadata,
  type ProtectedResourceMetadataOptions,
  protectedResourceMetadata,
  protectedResourceMetadataPath,
  protectedResourceMetadataUrl,
} from './protected-resource.js';
export { parseScope, requireScopes } from './scopes.js';
export { checkVerifyOptions, type VerifyAccessTokenOptions, verifyAccessToken } from './verify.js';
