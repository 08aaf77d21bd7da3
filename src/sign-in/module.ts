import type { Authorizations } from '../oauth/authorize/authorizations.js';
import { type ModuleParts, type Platform, type RateLimits, secureCookiesOf } from '../platform.js';
import type { Sessions } from '../sessions/sessions.js';
import type { SsoLogin } from '../sso/sso-login.js';
import type { Organizations } from '../tenancy/organizations.js';
import { ssoRoutes } from './routes.js';

export interface SignInModuleDeps {
  ssoLogin: SsoLogin;
  sessions: Sessions;
  authorizations: Authorizations;
  organizations: Organizations;
  rateLimits: RateLimits;
}

/** The hosted sign-in pages: a login page, SSO start and callback, resuming an authorization request. */
export function signInModule({ config }: Platform, deps: SignInModuleDeps): ModuleParts<object> {
  return {
    services: {},
    publicRoutes: async (app) => {
      await app.register(ssoRoutes, {
        ssoLogin: deps.ssoLogin,
        sessions: deps.sessions,
        authorizations: deps.authorizations,
        organizations: deps.organizations,
        issuer: config.issuer,
        secureCookies: secureCookiesOf(config),
        rateLimit: deps.rateLimits.public,
      });
    },
  };
}
