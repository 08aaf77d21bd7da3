import { createHash } from 'node:crypto';
import { html, page, pageSecurityHeaders, SafeHtml } from '../ui/html.js';

export interface LoginPageOptions {
  /** Where the form goes: `/sso/start`, or `/oauth2/sso` inside an authorization request. */
  action: string;
  /** Hidden fields carried through (return_to, request). */
  hidden: Record<string, string | undefined>;
  /** Set when the organization has several identity providers: only the email is asked. */
  organization?: { slug: string; name: string } | undefined;
  email?: string | undefined;
  error?: string | undefined;
}

const INPUT_STYLE = 'font:inherit;padding:.5rem;width:100%;box-sizing:border-box';

function hiddenFields(fields: Record<string, string | undefined>): SafeHtml[] {
  return Object.entries(fields)
    .filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '')
    .map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`);
}

/** The hosted "Sign in" page: a work email (routed by its domain) or an organization name. No scripts. */
export function renderLoginPage(options: LoginPageOptions): string {
  const error = options.error ? html`<p class="warning" role="alert">${options.error}</p>` : html``;
  const email = html`<p><label for="email">Work email</label><br>
<input id="email" name="email" type="email" autocomplete="email" value="${options.email ?? ''}" style="${INPUT_STYLE}"${options.organization ? html` required` : html``}></p>`;
  const body = options.organization
    ? html`<h1>Sign in to ${options.organization.name}</h1>
${error}
<p>${options.organization.name} signs in through more than one identity provider. Enter your work email to pick yours.</p>
<form method="get" action="${options.action}">
${hiddenFields({ ...options.hidden, organization: options.organization.slug })}
${email}
<div class="actions"><button type="submit">Continue</button></div>
</form>`
    : html`<h1>Sign in</h1>
${error}
<p>Sign in with your organization’s identity provider.</p>
<form method="get" action="${options.action}">
${hiddenFields(options.hidden)}
${email}
<p><label for="organization">or your organization</label><br>
<input id="organization" name="organization" autocomplete="organization" placeholder="for example xcorp" style="${INPUT_STYLE}"></p>
<div class="actions"><button type="submit">Continue</button></div>
</form>`;
  return page('Sign in', body);
}

/** Where the browser lands after a sign-in that named no other place. */
export function renderSignedInPage(who: { email: string; organization: string } | undefined): string {
  return who
    ? page(
        'Signed in',
        html`<h1>You are signed in</h1><p class="notice">Signed in as <strong>${who.email}</strong> to <strong>${who.organization}</strong>. You can close this page.</p>`,
      )
    : page('Signed out', html`<h1>You are not signed in</h1><p><a href="/login">Sign in</a></p>`);
}

const AUTO_SUBMIT = 'document.forms[0].submit();';
const AUTO_SUBMIT_HASH = `'sha256-${createHash('sha256').update(AUTO_SUBMIT).digest('base64')}'`;

/**
 * SAML's HTTP-POST binding: a form carrying the message to the identity provider, submitted by
 * the one script the page's CSP allows (by hash); without scripts, the person clicks Continue.
 */
export function renderAutoPostPage(action: string, fields: Record<string, string>): string {
  return page(
    'Signing in',
    html`<h1>Signing in…</h1>
<form method="post" action="${action}">
${hiddenFields(fields)}
<noscript><p>Continue to your identity provider.</p><div class="actions"><button type="submit">Continue</button></div></noscript>
</form>
<script>${new SafeHtml(AUTO_SUBMIT)}</script>`,
  );
}

/** The headers of the auto-post page: the page CSP, plus its one script by hash; the form may go to the IdP. */
export function autoPostSecurityHeaders(): Record<string, string> {
  const headers = pageSecurityHeaders(null);
  headers['content-security-policy'] = `${headers['content-security-policy']}; script-src ${AUTO_SUBMIT_HASH}`;
  return headers;
}
