/**
 * Human-in-the-loop approvals for agent code: ask Mandate (OpenID CIBA, poll mode) for a token to
 * do one specific thing for a user, described with RFC 9396 authorization details, and wait while
 * a person approves or denies it.
 */
import { basicAuthorization } from './introspect.js';

export interface MandateApprovalsOptions {
  /** Mandate's issuer URL. */
  issuer: string;
  /** The agent's confidential client (registered with the CIBA grant type). */
  clientId: string;
  clientSecret: string;
  fetch?: typeof fetch;
}

export interface ApprovalRequest {
  /** The user the action is for: a member id or email. */
  loginHint: string;
  /** What exactly: RFC 9396 objects of types the organization registered. */
  authorizationDetails: Record<string, unknown>[];
  /** The resource the token is for (RFC 8707) and the scope on it. */
  resource: string;
  scope: string;
  /** Shown to the approver beside the request; at most 100 characters. */
  bindingMessage?: string;
  /** Seconds the request may wait for a decision. */
  requestedExpiry?: number;
  /** Stops waiting early. */
  signal?: AbortSignal;
}

export interface ApprovedToken {
  access_token: string;
  expires_in: number;
  scope: string;
  /** Exactly what the person approved. */
  authorization_details: Record<string, unknown>[];
}

/** The request ended without a token: `access_denied`, `expired_token`, or a refusal when asking. */
export class ApprovalError extends Error {
  override name = 'ApprovalError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class MandateApprovals {
  private readonly fetch: typeof fetch;

  constructor(private readonly options: MandateApprovalsOptions) {
    this.fetch = options.fetch ?? fetch;
  }

  /**
   * Asks for the approval and waits for the decision, polling at the interval Mandate sets (and
   * slower when told `slow_down`, CIBA Core §11). Resolves with the single-purpose token.
   */
  async request(input: ApprovalRequest): Promise<ApprovedToken> {
    const base = this.options.issuer.replace(/\/+$/, '');
    const started = (await this.post(`${base}/oauth2/bc-authorize`, {
      login_hint: input.loginHint,
      authorization_details: JSON.stringify(input.authorizationDetails),
      resource: input.resource,
      scope: input.scope,
      ...(input.bindingMessage !== undefined && { binding_message: input.bindingMessage }),
      ...(input.requestedExpiry !== undefined && { requested_expiry: String(input.requestedExpiry) }),
    })) as { auth_req_id: string; interval?: number };
    let interval = started.interval ?? 5;
    for (;;) {
      await sleep(interval * 1000, input.signal);
      try {
        return (await this.post(`${base}/oauth2/token`, {
          grant_type: 'urn:openid:params:grant-type:ciba',
          auth_req_id: started.auth_req_id,
        })) as ApprovedToken;
      } catch (error) {
        if (!(error instanceof ApprovalError)) throw error;
        if (error.code === 'authorization_pending') continue;
        if (error.code === 'slow_down') {
          interval += 5;
          continue;
        }
        throw error;
      }
    }
  }

  private async post(url: string, form: Record<string, string>): Promise<unknown> {
    const res = await this.fetch(url, {
      method: 'POST',
      headers: {
        authorization: basicAuthorization(this.options.clientId, this.options.clientSecret),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(form).toString(),
    });
    const body = (await res.json().catch(() => ({}))) as { error?: string; error_description?: string };
    if (!res.ok) throw new ApprovalError(body.error ?? 'server_error', body.error_description ?? `Mandate answered ${res.status}`);
    return body;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}
