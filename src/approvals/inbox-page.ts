import { html, page, type SafeHtml } from '../ui/html.js';
import type { ApprovalView } from './approvals.js';

/** What happened to the decision the page answers, shown above the list. */
export interface InboxNotice {
  /** `done`: the decision was recorded; `refused`: it was not, and nothing changed. */
  kind: 'done' | 'refused';
  message: string;
}

export interface InboxPageInput {
  /** The pending requests this member may decide. */
  requests: readonly ApprovalView[];
  /** The session's CSRF token, echoed by every decision form. */
  csrfToken: string;
  notice?: InboxNotice | undefined;
}

/** Below this depth nested values are shown as JSON, so a pathological document cannot blow the stack. */
const MAX_DEPTH = 6;
/** Bidirectional controls could make a value read differently from what it says (CVE-2021-42574). */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

function text(value: string): string {
  return value.replace(BIDI_CONTROLS, '\ufffd');
}

/** `instructedAmount`, `creditor_account` → "Instructed amount", "Creditor account". */
export function fieldLabel(key: string): string {
  const words = key
    .replace(/[_-]+/g, ' ')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .trim()
    .toLowerCase();
  return words ? text(words.charAt(0).toUpperCase() + words.slice(1)) : text(key);
}

function renderValue(value: unknown, depth: number): SafeHtml {
  if (value === null || value === undefined) return html`<span class="muted">none</span>`;
  if (typeof value === 'boolean') return html`${value ? 'yes' : 'no'}`;
  if (typeof value !== 'object') return html`${text(String(value))}`;
  if (depth >= MAX_DEPTH) return html`<code>${text(JSON.stringify(value))}</code>`;
  if (Array.isArray(value)) {
    if (value.length === 0) return html`<span class="muted">none</span>`;
    return html`<ol>${value.map((item) => html`<li>${renderValue(item, depth + 1)}</li>`)}</ol>`;
  }
  return renderFields(value as Record<string, unknown>, depth + 1);
}

function renderFields(fields: Record<string, unknown>, depth: number): SafeHtml {
  const entries = Object.entries(fields);
  if (entries.length === 0) return html`<span class="muted">none</span>`;
  return html`<dl>${entries.map(([key, value]) => html`<dt>${fieldLabel(key)}</dt><dd>${renderValue(value, depth)}</dd>`)}</dl>`;
}

/** One RFC 9396 authorization details object: its type as a heading, every other field as label and value. */
export function renderAuthorizationDetail(detail: Record<string, unknown>): SafeHtml {
  const { type, ...fields } = detail;
  return html`<section class="detail">
<h3>${text(String(type))}</h3>
${renderFields(fields, 0)}
</section>`;
}

function titleOf(request: ApprovalView): string {
  if (request.binding_message) return text(request.binding_message);
  const types = [...new Set(request.authorization_details.map((d) => String(d.type)))];
  return `Request for ${text(types.join(', '))}`;
}

function whenOf(iso: string): string {
  return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

function approversOf(request: ApprovalView): string {
  const who = request.policy.approvers === 'user' ? 'the member it is for' : `members who may approve ${request.policy.tools.join(', ')}`;
  return request.policy.forbidRequester ? `${who}, except the member it is for` : who;
}

/** A name beside its id: names are for people, ids tell apart two with the same name. */
function named(name: string | null, id: string): SafeHtml {
  return name ? html`${text(name)} <code>${id}</code>` : html`<code>${id}</code>`;
}

function memberOf(request: ApprovalView): SafeHtml {
  const { name, email, id } = request.member;
  const who = [name, email ? `<${email}>` : null].filter((part): part is string => Boolean(part)).join(' ');
  return named(who || null, id);
}

function scopesOf(scope: string): SafeHtml {
  const scopes = scope.split(' ').filter(Boolean);
  if (scopes.length === 0) return html`<span class="muted">none</span>`;
  return html`${scopes.map((s, i) => html`${i > 0 ? ' ' : ''}<code>${text(s)}</code>`)}`;
}

/**
 * Everything the token an approval yields will carry (CIBA grant: subject, agent, client,
 * audience, scope, then its authorization details), so an approver knows exactly what they approve.
 */
function renderRequest(request: ApprovalView, csrfToken: string): SafeHtml {
  const titleId = `${request.id}-title`;
  return html`<article class="request" aria-labelledby="${titleId}">
<h2 id="${titleId}">${titleOf(request)}</h2>
<dl class="meta">
<dt>For member</dt><dd>${memberOf(request)}</dd>
<dt>Agent</dt><dd>${request.agent ? named(request.agent.name, request.agent.id) : html`<span class="muted">none</span>`}</dd>
<dt>Client</dt><dd>${named(request.client.name, request.client.id)}</dd>
<dt>Resource (audience)</dt><dd><code>${text(request.resource)}</code></dd>
<dt>Scope</dt><dd>${scopesOf(request.scope)}</dd>
<dt>Expires</dt><dd><time datetime="${request.expires_at}">${whenOf(request.expires_at)}</time></dd>
<dt>Approvals</dt><dd>${request.approvals} of ${request.policy.required} needed, from ${approversOf(request)}</dd>
</dl>
${request.authorization_details.map(renderAuthorizationDetail)}
<form method="post" action="/approvals/${request.id}">
<input type="hidden" name="csrf_token" value="${csrfToken}">
<div class="actions">
<button type="submit" name="decision" value="approve" aria-describedby="${titleId}">Approve</button>
<button type="submit" name="decision" value="deny" aria-describedby="${titleId}">Deny</button>
</div>
</form>
</article>`;
}

function renderNotice(notice: InboxNotice | undefined): SafeHtml {
  if (!notice) return html``;
  // A refusal interrupts (alert); a recorded decision is announced politely (status).
  return notice.kind === 'refused'
    ? html`<div class="warning" role="alert"><p><strong>Your decision was not recorded.</strong> ${notice.message}</p></div>`
    : html`<div class="notice" role="status"><p>${notice.message}</p></div>`;
}

/** The approvals inbox: the pending requests the signed-in member may decide, each with Approve and Deny. */
export function renderInboxPage(input: InboxPageInput): string {
  const count = input.requests.length;
  const list =
    count === 0
      ? html`<p class="empty">No requests are waiting for your decision.</p>`
      : html`<p>${count === 1 ? '1 request is' : `${count} requests are`} waiting for your decision. Check each one before you answer: approving lets the agent do exactly what is shown, once.</p>
${input.requests.map((r) => renderRequest(r, input.csrfToken))}`;
  return page('Approvals', html`<h1>Approvals</h1>${renderNotice(input.notice)}${list}`);
}

/** A recorded decision, in words. */
export function decisionNotice(decision: 'approve' | 'deny', request: ApprovalView): InboxNotice {
  const what = `“${titleOf(request)}”`;
  if (decision === 'deny') return { kind: 'done', message: `You denied ${what}. The agent will not be able to do it.` };
  if (request.status === 'approved') return { kind: 'done', message: `You approved ${what}. The agent may now do it, once.` };
  return {
    kind: 'done',
    message: `Your approval of ${what} was recorded: ${request.approvals} of ${request.policy.required} approvals so far.`,
  };
}

/** For a browser without a valid session. */
export function renderSignInPage(): string {
  return page(
    'Sign in to see approvals',
    html`<h1>Sign in to see approvals</h1>
<p>You are not signed in, or your session has ended. Sign in through your organization’s application, then come back to this page.</p>`,
  );
}

/** Any other failure, in a sentence a person can act on. */
export function renderInboxErrorPage(title: string, description: string): string {
  return page(title, html`<h1>${title}</h1><p>${description}</p><p><a href="/approvals">Back to approvals</a></p>`);
}
