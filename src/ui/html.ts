/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** A tagged template that escapes every interpolated value unless it is already {@link SafeHtml}. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    const rendered = Array.isArray(value)
      ? value.map((v) => (v instanceof SafeHtml ? v.value : escapeHtml(String(v)))).join('')
      : value instanceof SafeHtml
        ? value.value
        : escapeHtml(String(value ?? ''));
    out += rendered + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

const STYLE = `
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1a1d21; }
  main { max-width: 34rem; margin: 3rem auto; background: #fff; border-radius: 12px; padding: 2rem; box-shadow: 0 1px 4px #0002; }
  h1 { font-size: 1.35rem; margin-top: 0; }
  ul { padding-left: 1.2rem; } li { margin: .4rem 0; } code { font-size: .85em; }
  .warning { background: #fff4e5; border-left: 4px solid #f0a020; padding: .6rem .8rem; }
  .actions { display: flex; gap: .75rem; margin-top: 1.5rem; }
  button { font: inherit; padding: .6rem 1.2rem; border-radius: 8px; border: 1px solid #889; background: #fff; cursor: pointer; }
  button[value=allow], button[value=approve] { background: #1f5fd6; color: #fff; border-color: #1f5fd6; }
  .notice { background: #e8f5ec; border-left: 4px solid #2e8b57; padding: .6rem .8rem; }
  article { border-top: 1px solid #dde; margin-top: 1.5rem; padding-top: 1rem; }
  h2 { font-size: 1.15rem; } h3 { font-size: 1rem; margin-bottom: .3rem; }
  dl { margin: .3rem 0; } dt { font-weight: 600; } dd { margin: 0 0 .4rem 1rem; overflow-wrap: anywhere; }
  button:focus-visible { outline: 3px solid #f0a020; outline-offset: 2px; }
  .muted { color: #555; font-size: .9rem; }`;

/** A complete page: language, title, viewport, inline style (allowed by the page CSP's hash-free 'unsafe-inline' for styles only). */
export function page(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<style>${new SafeHtml(STYLE)}</style>
</head>
<body><main>${body}</main></body>
</html>`.value;
}

/**
 * Security headers of a hosted page: no scripts at all, no framing (clickjacking on consent).
 * `formTargets` lists where a form submission may lead, redirects included (browsers check
 * form-action on every hop): Mandate plus the client's origin on the consent page. `null`
 * leaves form-action open, for the organization choice whose next hop is the organization's
 * own login page, unknown until the user answers.
 */
export function pageSecurityHeaders(formTargets: readonly string[] | null = []): Record<string, string> {
  const formAction = formTargets === null ? '' : ` form-action ${["'self'", ...formTargets].join(' ')};`;
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline';${formAction} frame-ancestors 'none'; base-uri 'none'`,
    'x-frame-options': 'DENY',
  };
}
