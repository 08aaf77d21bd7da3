import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from './browser.js';

export interface AuthorizationBrowserOptions {
  /** A running browser to reuse (a fresh context is opened in it); by default one is launched and closed. */
  browser?: Browser;
  /** A context to reuse, left open: the provider's session from an earlier authorization is still in it. */
  context?: BrowserContext;
  /** Password typed on the provider's login page (oidc-provider's devInteractions accept any). */
  password?: string;
  /** Overall deadline, ms. Default 15 000. */
  timeoutMs?: number;
  /** Cookies the browser already holds, e.g. the user's Mandate session (`mandate_session`) for Mandate's origin. */
  cookies?: { name: string; value: string; url: string }[];
}

const CALLBACK = /\/vault\/callback/;
const LOOPBACK = /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//;

/**
 * Drives Chromium from `link` (a Mandate page redirecting to the third party's authorization endpoint)
 * through oidc-provider's devInteractions login page (types `login` and a password) and consent page
 * (clicks Continue), and returns the text of the page the browser lands on at Mandate's `/vault/callback`.
 * Each call uses a fresh browser context, so the provider always asks for login and consent, unless
 * `context` is given (route it away from non-loopback hosts yourself). Requests leaving loopback
 * (the dev pages import a web font) are blocked.
 */
export async function completeAuthorizationInBrowser(
  link: string,
  login: string,
  options: AuthorizationBrowserOptions = {},
): Promise<string> {
  const browser = options.context ? undefined : (options.browser ?? (await launchChromium()));
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  const context = options.context ?? (await (browser as Browser).newContext());
  try {
    if (options.cookies) await context.addCookies(options.cookies.map((c) => ({ ...c, httpOnly: true, sameSite: 'Lax' as const })));
    if (!options.context)
      await context.route(
        (url) => !LOOPBACK.test(url.href),
        (route) => route.abort(),
      );
    const page = await context.newPage();
    await page.goto(link);
    for (let step = 0; !CALLBACK.test(page.url()); step += 1) {
      if (step > 6 || Date.now() > deadline) throw new Error(`authorization did not reach /vault/callback: ${await describe(page)}`);
      const before = page.url();
      const timeout = Math.max(1, deadline - Date.now());
      if ((await page.locator('form input[name="prompt"][value="login"]').count()) > 0) {
        await page.locator('input[name="login"]').fill(login);
        await page.locator('input[name="password"]').fill(options.password ?? 'any-password');
        await Promise.all([page.waitForURL((url) => url.href !== before, { timeout }), page.locator('button[type="submit"]').click()]);
      } else if ((await page.locator('form input[name="prompt"][value="consent"]').count()) > 0) {
        await Promise.all([page.waitForURL((url) => url.href !== before, { timeout }), page.locator('button[type="submit"]').click()]);
      } else {
        throw new Error(`unexpected page on the way to /vault/callback: ${await describe(page)}`);
      }
    }
    await page.waitForLoadState('load');
    return (await page.locator('body').textContent()) ?? '';
  } finally {
    if (!options.context) await context.close();
    if (!options.browser && browser) await browser.close();
  }
}

async function describe(page: Page): Promise<string> {
  const text =
    (await page
      .locator('body')
      .textContent({ timeout: 1_000 })
      .catch(() => null)) ?? '';
  return `${page.url()}\n${text.slice(0, 1_000)}`;
}
