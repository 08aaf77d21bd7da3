/**
 * The token vault for agent code: connect a user's third-party account, get a live token, run a
 * tool as the user. Authenticate with the user's Mandate access token the agent acts under (then
 * only that user's accounts are reachable, and only while the grant stands), or an admin API key
 * for a platform backend (then name the organization and the user).
 */

/** Options of {@link MandateActions}. */
export interface MandateActionsOptions {
  /** Mandate's base URL (its issuer), e.g. `https://auth.example.com`. */
  issuer: string;
  /** The user's Mandate access token, or an admin API key (`mnd_ak_…`). */
  credential: string;
  /** With an admin key: the organization (id or slug). */
  organization?: string;
  fetch?: typeof fetch;
  /** Give up on a request after this many milliseconds. Default 20000 (tools call the provider). */
  timeoutMs?: number;
}

export interface ConnectedAccount {
  id: string;
  connection: string;
  provider: string;
  identifier: string;
  status: 'pending' | 'active' | 'expired' | 'revoked' | 'reauthorization_required';
  scopes: string[];
  expires_at: string | null;
  /** Live: refreshed by Mandate ahead of expiry. Absent when only the status was asked for. */
  access_token?: string;
}

export interface ToolExecution<T = unknown> {
  /** The provider API's HTTP status. */
  status: number;
  body: T;
  /** The audit intent the call was recorded under. */
  intent_id: string;
}

/** Mandate refused; `code` is its error code. */
export class MandateActionError extends Error {
  override name = 'MandateActionError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The provider refused to refresh the account: send the user a new authorization link. */
export class ReauthorizationRequiredError extends MandateActionError {
  override name = 'ReauthorizationRequiredError';
}

/** Not allowed: another user's account, a revoked grant, or a permission the user or agent lacks. */
export class ActionForbiddenError extends MandateActionError {
  override name = 'ActionForbiddenError';
}

export class MandateActions {
  private readonly base: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: MandateActionsOptions) {
    this.base = options.issuer.replace(/\/+$/, '');
    this.fetch = options.fetch ?? fetch;
  }

  /** A link the user opens to connect their account (single use, valid for 10 minutes). */
  async getAuthorizationLink(input: {
    connectionName: string;
    identifier?: string;
    scopes?: string[];
  }): Promise<{ link: string; expires_at: string }> {
    return this.call('POST', '/v1/connected-accounts/authorization-link', {
      connection: input.connectionName,
      ...(input.identifier && { identifier: input.identifier }),
      ...(input.scopes && { scopes: input.scopes }),
      ...this.organization(),
    });
  }

  /** The account with a live access token (or only its status, with `withToken: false`). */
  async getConnectedAccount(input: { connectionName: string; identifier: string; withToken?: boolean }): Promise<ConnectedAccount> {
    const query = new URLSearchParams({ ...this.organization(), ...(input.withToken === false && { token: 'false' }) });
    const suffix = query.size > 0 ? `?${query}` : '';
    return this.call(
      'GET',
      `/v1/connected-accounts/${encodeURIComponent(input.connectionName)}/${encodeURIComponent(input.identifier)}${suffix}`,
    );
  }

  /** Runs a named tool (see `GET /v1/tools`) as the user, with the user's token injected by Mandate. */
  async executeTool<T = unknown>(input: {
    toolName: string;
    identifier?: string;
    toolInput: unknown;
    connectionName?: string;
  }): Promise<ToolExecution<T>> {
    return this.call('POST', '/v1/tools/execute', {
      tool_name: input.toolName,
      tool_input: input.toolInput,
      ...(input.identifier && { identifier: input.identifier }),
      ...(input.connectionName && { connection: input.connectionName }),
      ...this.organization(),
    });
  }

  /** Disconnects: the provider revokes the tokens where it can, and Mandate deletes them. */
  async disconnect(input: { connectionName: string; identifier: string }): Promise<ConnectedAccount> {
    const query = new URLSearchParams(this.organization());
    const suffix = query.size > 0 ? `?${query}` : '';
    return this.call(
      'DELETE',
      `/v1/connected-accounts/${encodeURIComponent(input.connectionName)}/${encodeURIComponent(input.identifier)}${suffix}`,
    );
  }

  private organization(): Record<string, string> {
    return this.options.organization ? { organization: this.options.organization } : {};
  }

  private async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: object): Promise<T> {
    const res = await this.fetch(`${this.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.options.credential}`, ...(body && { 'content-type': 'application/json' }) },
      ...(body && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 20_000),
    });
    const payload = (await res.json().catch(() => ({}))) as { error?: string; error_description?: string };
    if (res.ok) return payload as T;
    const code = payload.error ?? 'server_error';
    const message = payload.error_description ?? `Mandate answered ${res.status}`;
    if (code === 'reauthorization_required') throw new ReauthorizationRequiredError(res.status, code, message);
    if (res.status === 403) throw new ActionForbiddenError(res.status, code, message);
    throw new MandateActionError(res.status, code, message);
  }
}
