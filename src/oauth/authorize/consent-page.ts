import { html, page } from '../../ui/html.js';
import type { ConsentPrompt } from './authorizations.js';

/** The hosted consent page: who asks, for which organization and resource, to do what. */
export function renderConsentPage(prompt: ConsentPrompt): string {
  const warning = prompt.localhost_only
    ? html`<p class="warning" role="note">This application returns to <strong>${prompt.redirect_host}</strong>, a program running on this computer. Allow only if you started it yourself.</p>`
    : html``;
  return page(
    `Allow ${prompt.client.name}?`,
    html`<h1>Allow <strong>${prompt.client.name}</strong> to act for you?</h1>
<p>In <strong>${prompt.organization.name}</strong>, on <strong>${prompt.resource.name}</strong> <span class="muted">(${prompt.resource.identifier})</span>, it asks to:</p>
<ul>${prompt.scopes.map((s) => html`<li>${s.description} <code class="muted">${s.name}</code></li>`)}</ul>
<p class="muted">After you answer you will return to <strong>${prompt.redirect_host}</strong>. You can withdraw this access at any time.</p>
${warning}
<form method="post" action="/oauth2/consent">
<input type="hidden" name="request" value="${prompt.request_id}">
<input type="hidden" name="csrf_token" value="${prompt.csrf_token}">
<div class="actions">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</div>
</form>`,
  );
}

export function renderErrorPage(title: string, description: string): string {
  return page(title, html`<h1>${title}</h1><p>${description}</p>`);
}

/** For applications that belong to no organization: which organization does the user sign in with? */
export function renderOrganizationPage(requestId: string): string {
  return page(
    'Choose your organization',
    html`<h1>Which organization do you sign in with?</h1>
<form method="post" action="/oauth2/organization">
<input type="hidden" name="request" value="${requestId}">
<p><label for="organization">Organization</label><br>
<input id="organization" name="organization" required autocomplete="organization" placeholder="for example xcorp" style="font:inherit;padding:.5rem;width:100%;box-sizing:border-box"></p>
<div class="actions"><button type="submit" name="decision" value="allow">Continue</button></div>
</form>`,
  );
}
