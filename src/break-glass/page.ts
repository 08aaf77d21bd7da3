import { html, page } from '../ui/html.js';

export const BREAK_GLASS_PAGE_PATH = '/login/break-glass';

export interface BreakGlassFormInput {
  organization: string;
  email: string;
  csrfToken: string;
  returnTo: string;
  /** Why the last attempt failed, in words a person can act on. */
  error?: string | undefined;
}

const INPUT_STYLE = 'font:inherit;padding:.5rem;width:100%;box-sizing:border-box';

/** The break-glass login form: organization, email, password and the authenticator's code; no scripts. */
export function renderBreakGlassLoginPage(input: BreakGlassFormInput): string {
  const error = input.error ? html`<p class="warning" role="alert">${input.error}</p>` : html``;
  return page(
    'Break-glass sign-in',
    html`<h1>Break-glass sign-in</h1>
<p>For emergencies only, when single sign-on is unavailable. Every use is recorded and your organization’s security team is alerted.</p>
${error}
<form method="post" action="${BREAK_GLASS_PAGE_PATH}">
<input type="hidden" name="csrf_token" value="${input.csrfToken}">
<input type="hidden" name="return_to" value="${input.returnTo}">
<p><label for="organization">Organization</label><br>
<input id="organization" name="organization" required maxlength="100" autocomplete="organization" value="${input.organization}" style="${INPUT_STYLE}"></p>
<p><label for="email">Email</label><br>
<input id="email" name="email" type="email" required maxlength="254" autocomplete="username" value="${input.email}" style="${INPUT_STYLE}"></p>
<p><label for="password">Password</label><br>
<input id="password" name="password" type="password" required maxlength="1024" autocomplete="current-password" style="${INPUT_STYLE}"></p>
<p><label for="code">Code from your authenticator app</label><br>
<input id="code" name="code" required inputmode="numeric" pattern="[0-9 ]{6,7}" maxlength="7" autocomplete="one-time-code" style="${INPUT_STYLE}"></p>
<div class="actions"><button type="submit" name="decision" value="allow">Sign in</button></div>
</form>`,
  );
}

/** After a break-glass login that has nowhere to return to. */
export function renderBreakGlassSignedInPage(input: { email: string; organization: string; expiresAt: string }): string {
  return page(
    'Signed in',
    html`<h1>Signed in with break-glass access</h1>
<p class="notice">You are signed in to <strong>${input.organization}</strong> as <strong>${input.email}</strong> until <time datetime="${input.expiresAt}">${input.expiresAt.replace('T', ' ').slice(0, 16)} UTC</time>.</p>
<p>This sign-in was recorded and reported to your security team. Return to the application you were using, or open <a href="/approvals">pending approvals</a>.</p>`,
  );
}

export function renderBreakGlassErrorPage(title: string, description: string): string {
  return page(title, html`<h1>${title}</h1><p>${description}</p><p><a href="${BREAK_GLASS_PAGE_PATH}">Back to break-glass sign-in</a></p>`);
}
