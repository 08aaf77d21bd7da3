import type { Caller } from '../activity/caller.js';
import type { Intents } from '../activity/intents.js';
import type { AuditContext } from '../audit/audit-log.js';
import { InvalidRequestError, MandateError, NotFoundError } from '../errors.js';
import { OutboundRequestError, outboundRequest } from '../outbound/request.js';
import type { Store } from '../store/store.js';
import type { AccountOwner } from './account-records.js';
import type { ConnectedAccounts } from './accounts.js';
import type { Connections, ResolvedConnection } from './connections.js';
import type { AccountOwners } from './owner.js';
import type { ApiRequest, ToolEntry } from './providers/types.js';
import { resolveApiUrl } from './tools/api-url.js';
import { buildToolRequest } from './tools/build-request.js';
import { TOOLS } from './tools/catalog.js';

export interface ToolResult {
  /** The provider API's HTTP status. */
  status: number;
  /** Its JSON answer, or its text when it is not JSON. */
  body: unknown;
  intent_id: string;
}

/** What a proxied request may carry, and what it may bring back. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
const TIMEOUT_MS = 15_000;
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/**
 * Calls a provider's API as the user, with the user's live token injected, either as a named tool
 * (data in tools/catalog.ts: an input schema and a request template) or as a raw request confined
 * to the provider's API base. Both ask the delegation decision first (user AND agent AND consent)
 * and write the intent before the call and its outcome after it.
 */
export class ToolExecution {
  constructor(
    private readonly deps: {
      store: Store;
      accounts: ConnectedAccounts;
      connections: Connections;
      owners: AccountOwners;
      intents: Intents;
      allowLoopback: boolean;
    },
  ) {}

  async execute(
    caller: Caller,
    input: {
      tool_name: string;
      tool_input: unknown;
      identifier?: string | undefined;
      organization?: string | undefined;
      connection?: string | undefined;
    },
    context: AuditContext,
  ): Promise<ToolResult> {
    const tool = TOOLS[input.tool_name];
    if (!tool) throw new NotFoundError(`tool "${input.tool_name}"`);
    const owner = await this.deps.owners.resolve(caller, input, context);
    const connection = await this.connectionFor(owner.orgId, tool, input.connection);
    let request: ApiRequest;
    try {
      request = buildToolRequest(tool, input.tool_input);
    } catch (error) {
      throw new InvalidRequestError(error instanceof Error ? error.message : 'invalid tool_input');
    }
    return this.run(caller, owner, connection, tool.permission, tool.classification, request, { tool_name: tool.name }, context);
  }

  async proxy(
    caller: Caller,
    connectionName: string,
    input: {
      identifier?: string | undefined;
      organization?: string | undefined;
      method: string;
      path: string;
      query?: Record<string, string> | undefined;
      body?: unknown;
    },
    context: AuditContext,
  ): Promise<ToolResult> {
    const method = input.method.toUpperCase();
    if (!(METHODS as readonly string[]).includes(method)) throw new InvalidRequestError(`method must be one of ${METHODS.join(', ')}`);
    const owner = await this.deps.owners.resolve(caller, input, context);
    const connection = await this.deps.connections.resolve(owner.orgId, connectionName);
    // A raw request can do anything the provider's API allows, whatever its method (GET may write,
    // GraphQL goes through one URL): it needs `admin` on the provider, at the highest usual classification.
    const permission = { tool: connection.provider.name, action: 'admin' as const };
    const request: ApiRequest = {
      method,
      path: input.path,
      ...(input.query && { query: input.query }),
      ...(input.body !== undefined && { body: input.body }),
    };
    return this.run(caller, owner, connection, permission, 'confidential', request, { proxy: `${method} ${input.path}` }, context);
  }

  private async run(
    caller: Caller,
    owner: AccountOwner,
    connection: ResolvedConnection,
    permission: ToolEntry['permission'],
    classification: ToolEntry['classification'],
    request: ApiRequest,
    detail: Record<string, unknown>,
    context: AuditContext,
  ): Promise<ToolResult> {
    let url: URL;
    try {
      url = resolveApiUrl(connection.provider.apiBaseUrl, request.path, request.query);
    } catch (error) {
      throw new InvalidRequestError(error instanceof Error ? error.message : 'the path leaves the provider API');
    }
    await this.deps.owners.authorize(caller, owner, permission, classification, context);
    const principals = caller.kind === 'token' ? {} : { organization: owner.orgId, member_id: owner.identifier };
    const intent = await this.deps.intents.open(
      {
        ...principals,
        tool: permission.tool,
        action: permission.action,
        classification,
        detail: { ...detail, connection: connection.row.name },
      },
      context,
      caller,
    );
    let status = 0;
    let body: unknown;
    try {
      const live = await this.deps.accounts.live(owner, connection.row.name, context);
      const response = await outboundRequest({
        method: request.method,
        url,
        headers: {
          accept: 'application/json',
          ...connection.provider.apiHeaders,
          authorization: `Bearer ${live.access_token}`,
          ...(request.body !== undefined && { 'content-type': 'application/json' }),
        },
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        allowLoopback: this.deps.allowLoopback,
        timeoutMs: TIMEOUT_MS,
        maxBytes: MAX_RESPONSE_BYTES,
      });
      status = response.status;
      body = parseBody(response.body, String(response.headers['content-type'] ?? ''));
    } catch (error) {
      const code = error instanceof MandateError ? error.code : error instanceof OutboundRequestError ? 'provider_unreachable' : 'failed';
      await this.deps.intents.complete(intent.id, { result: 'failure', error_code: code }, context, caller);
      if (error instanceof MandateError) throw error;
      // Only the outbound failure is described to the caller; anything else stays in the log.
      if (error instanceof OutboundRequestError)
        throw new MandateError('provider_unavailable', `the provider API could not be reached: ${error.message}`);
      throw error;
    }
    const ok = status >= 200 && status < 300;
    await this.deps.intents.complete(
      intent.id,
      { result: ok ? 'success' : 'failure', ...(!ok && { error_code: `http_${status}` }), detail: { status } },
      context,
      caller,
    );
    return { status, body, intent_id: intent.id };
  }

  /** The connection a tool runs through: the one named, or the organization's only one for its provider. */
  private async connectionFor(orgId: string, tool: ToolEntry, name: string | undefined): Promise<ResolvedConnection> {
    if (name) {
      const connection = await this.deps.connections.resolve(orgId, name);
      if (connection.provider.name !== tool.provider && connection.row.provider !== tool.provider)
        throw new InvalidRequestError(`connection "${name}" is not a ${tool.provider} connection`);
      return connection;
    }
    const rows = await this.deps.store.db
      .selectFrom('vault_connections')
      .select('name')
      .where('org_id', '=', orgId)
      .where('provider', '=', tool.provider)
      .execute();
    if (rows.length !== 1 || !rows[0])
      throw new InvalidRequestError(
        rows.length === 0 ? `the organization has no ${tool.provider} connection` : `name the ${tool.provider} connection to use`,
      );
    return this.deps.connections.resolve(orgId, rows[0].name);
  }
}

function parseBody(text: string, contentType: string): unknown {
  if (!/json/i.test(contentType)) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
