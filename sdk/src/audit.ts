/**
 * Recording what an agent does in Mandate's audit trail: the intent before a tool runs, the
 * outcome after, and resumable runs. Talks to Mandate's /v1 API with the user's access token or
 * an admin API key.
 */

/** Options of {@link MandateAudit}. */
export interface MandateAuditOptions {
  /** Mandate's base URL (its issuer), e.g. `https://auth.example.com`. */
  issuer: string;
  /**
   * The credential: the user's Mandate access token the agent acts under (then the principals are
   * the token's, and only its own records are reachable), or an admin API key (`mnd_ak_…`) for a
   * platform backend that names principals.
   */
  apiKey: string;
  /** The fetch implementation. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Give up on a request after this many milliseconds. Default 5000. */
  timeoutMs?: number;
}

/** Who an action is for: the access token the agent acts under, or ids in an organization. */
export type AuditPrincipals =
  /** None: the credential is the user's access token, whose principals apply. */
  | { token?: never; organization?: never; run_id?: never }
  | { token: string }
  | { organization: string; member_id?: string; agent_id?: string; grant_id?: string }
  | { run_id: string };

/** What the agent is about to do. */
export type ToolIntent = AuditPrincipals & {
  tool: string;
  action: string;
  classification?: 'public' | 'internal' | 'confidential' | 'restricted';
  /** A step of a run: its name (the run's principals apply). */
  step?: string;
  detail?: Record<string, unknown>;
  /** Ties every event of one agent run together (sent as `x-correlation-id`). */
  correlationId?: string;
};

export interface RecordedIntent {
  id: string;
  org_id: string;
  correlation_id: string;
  started_at: string;
  grant_valid: boolean | null;
  run_id: string | null;
}

export interface RecordedOutcome {
  id: string;
  intent_id: string;
  result: 'success' | 'failure';
  started_at: string;
  ended_at: string;
  latency_ms: number;
  grant_valid: boolean | null;
}

export interface Run {
  id: string;
  org_id: string;
  name: string;
  correlation_id: string;
  status: 'active' | 'completed' | 'failed';
  steps_completed: number;
  last_successful_step: { name: string; event_id: string; state: unknown } | null;
  resumable: boolean;
}

/** Mandate refused an audit call; `code` is the management API's error code. */
export class MandateAuditError extends Error {
  override name = 'MandateAuditError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The error code an outcome records for a thrown error: its `code` when it has a usable one, else its name. */
export function errorCodeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Za-z0-9_.:-]{1,100}$/.test(code)) return code;
  const name = error instanceof Error ? error.name : 'Error';
  return /^[A-Za-z0-9_.:-]{1,100}$/.test(name) ? name : 'Error';
}

export class MandateAudit {
  private readonly base: string;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(private readonly options: MandateAuditOptions) {
    this.base = options.issuer.replace(/\/+$/, '');
    this.fetch = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  /** Records an intent; Mandate answers once it is durable. Throws if the grant behind it was revoked. */
  async intent(intent: ToolIntent): Promise<RecordedIntent> {
    const { correlationId, ...body } = intent;
    return this.call('POST', '/v1/audit/intents', body, correlationId);
  }

  async outcome(
    intentId: string,
    outcome: { result: 'success' | 'failure'; error_code?: string; detail?: Record<string, unknown>; state?: unknown },
  ): Promise<RecordedOutcome> {
    return this.call('POST', `/v1/audit/intents/${encodeURIComponent(intentId)}/outcome`, outcome);
  }

  /**
   * Runs a tool call between its intent and its outcome: the intent is durable before `work`
   * starts, and the outcome is recorded after it, as a failure with the error's code when it
   * throws (the error is then rethrown). `state` turns a step's result into the state a resumed
   * run starts from.
   */
  async track<T>(intent: ToolIntent, work: () => Promise<T>, options: { state?: (result: T) => unknown } = {}): Promise<T> {
    const recorded = await this.intent(intent);
    let result: T;
    try {
      result = await work();
    } catch (error) {
      // The tool's own error is what the caller must see, even if recording its failure fails too.
      await this.outcome(recorded.id, { result: 'failure', error_code: errorCodeOf(error) }).catch(() => undefined);
      throw error;
    }
    await this.outcome(recorded.id, { result: 'success', ...(options.state && { state: options.state(result) }) });
    return result;
  }

  /** Opens a run for an agent acting for a user under a grant (the token's, or the ids given). */
  async startRun(principals: Exclude<AuditPrincipals, { run_id: string }> & { name: string }): Promise<Run> {
    return this.call('POST', '/v1/runs', principals);
  }

  /** A run's last successful step and state: where a crashed agent resumes. */
  async getRun(runId: string): Promise<Run> {
    return this.call('GET', `/v1/runs/${encodeURIComponent(runId)}`);
  }

  async finishRun(runId: string, status: 'completed' | 'failed'): Promise<Run> {
    return this.call('POST', `/v1/runs/${encodeURIComponent(runId)}/finish`, { status });
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: object, correlationId?: string): Promise<T> {
    const res = await this.fetch(`${this.base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.options.apiKey}`,
        ...(body && { 'content-type': 'application/json' }),
        ...(correlationId && { 'x-correlation-id': correlationId }),
      },
      ...(body && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const payload = (await res.json().catch(() => ({}))) as { error?: string; error_description?: string };
    if (!res.ok)
      throw new MandateAuditError(
        res.status,
        payload.error ?? 'server_error',
        payload.error_description ?? `Mandate answered ${res.status}`,
      );
    return payload as T;
  }
}
