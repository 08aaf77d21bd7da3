import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import { outboundRequest } from '../outbound/request.js';

const WEBHOOK_TIMEOUT_MS = 5000;

/** What a security alert says: public facts only, never a credential. */
export interface SecurityAlert {
  kind: 'break_glass.used' | 'break_glass.password_spray' | 'impersonation.started';
  organization: { id: string; slug: string };
  member: { id: string; email: string };
  /** On `impersonation.started`: who acts as the member. */
  impersonator?: { id: string; email: string };
  at: string;
  client_ip: string | null;
  /** The session the event started, if it started one. */
  session_id?: string;
  /** The audit event recording it. */
  event_id: string;
}

/**
 * Tells people about events that must never go unnoticed (a break-glass login, an impersonation): a warn log line,
 * a counter, and a POST to the organization's `security_alert_webhook_url` through the guarded
 * outbound client. Fire and forget: a failed webhook is logged; the audit event already holds
 * the fact.
 */
export class SecurityAlerts {
  /** Registered with the node's metrics registry by app.ts. */
  readonly counter = new Counter({
    name: 'mandate_security_alerts_total',
    help: 'Security alerts raised (e.g. break-glass logins), by kind.',
    labelNames: ['kind'] as const,
    registers: [],
  });
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly deps: { logger: Logger; allowLoopback: boolean }) {}

  raise(alert: SecurityAlert, webhookUrl: string | undefined): void {
    this.counter.inc({ kind: alert.kind });
    this.deps.logger.warn(
      { alert: alert.kind, org: alert.organization.id, member: alert.member.id, client_ip: alert.client_ip, event: alert.event_id },
      `security alert: ${alert.kind}`,
    );
    if (!webhookUrl) return;
    const sent = outboundRequest({
      method: 'POST',
      url: new URL(webhookUrl),
      headers: { 'content-type': 'application/json', 'user-agent': 'Mandate security alert' },
      body: JSON.stringify(alert),
      allowLoopback: this.deps.allowLoopback,
      timeoutMs: WEBHOOK_TIMEOUT_MS,
      maxBytes: 65_536,
    })
      .then((response) => {
        if (response.status >= 300)
          this.deps.logger.warn({ status: response.status, event: alert.event_id }, 'security alert webhook answered with an error');
      })
      .catch((error: unknown) => this.deps.logger.warn({ err: error, event: alert.event_id }, 'security alert webhook failed'))
      .finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
  }

  /** Waits for the webhooks in flight (shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }
}
