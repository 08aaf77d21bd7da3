import cookie from '@fastify/cookie';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { callerHook, callerOf } from '../activity/caller.js';
import type { AdminKeys } from '../admin-keys/admin-keys.js';
import { ErrorBody, errorResponses, OrgParams } from '../http/common-schemas.js';
import { auditContextOf } from '../http/request-context.js';
import { SESSION_COOKIE } from '../http/session-cookie.js';
import type { AccessTokens } from '../oauth/tokens/access-token.js';
import { assertNotImpersonating, type Sessions } from '../sessions/sessions.js';
import { html, page, pageSecurityHeaders } from '../ui/html.js';
import type { ConnectedAccounts } from './accounts.js';
import { type AuthorizationLinks, VaultLinkError } from './authorization-links.js';
import type { Connections } from './connections.js';
import type { AccountOwners } from './owner.js';
import type { ToolExecution } from './tool-execution.js';
import { TOOLS } from './tools/catalog.js';

const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '^[a-z0-9][a-z0-9_.-]*$' });
const Scope = Type.String({ minLength: 1, maxLength: 200, pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' });
const Url = Type.String({ minLength: 1, maxLength: 2000 });
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);
const MemberId = Type.String({ pattern: '^mbr_[0-9a-z]{26}$', description: 'The user: a member id (with a token, only its own).' });
const Organization = Type.Optional(Type.String({ maxLength: 100, description: 'Organization id or slug (admin key callers).' }));

const Endpoints = Type.Object(
  {
    authorization_url: Type.Optional(Url),
    token_url: Type.Optional(Url),
    revocation_url: Type.Optional(Url),
    api_base_url: Type.Optional(Url),
    pkce: Type.Optional(Type.Boolean()),
    client_auth: Type.Optional(Type.Union([Type.Literal('client_secret_basic'), Type.Literal('client_secret_post')])),
  },
  { additionalProperties: false },
);
const Connection = Type.Object({
  id: Type.String(),
  org_id: Type.String(),
  name: Type.String(),
  provider: Type.String(),
  client_id: Type.String(),
  scopes: Type.Array(Type.String()),
  endpoints: Type.Union([Endpoints, Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
});
const Account = Type.Object({
  id: Type.String(),
  connection: Type.String(),
  provider: Type.String(),
  identifier: Type.String(),
  status: Type.String({ description: 'pending, active, expired, revoked or reauthorization_required' }),
  scopes: Type.Array(Type.String()),
  expires_at: Nullable(Type.String()),
  last_refreshed_at: Nullable(Type.String()),
  access_token: Type.Optional(Type.String({ description: 'Live: refreshed ahead of expiry.' })),
});
const ToolResult = Type.Object({ status: Type.Integer(), body: Type.Unknown(), intent_id: Type.String() });
const AccountParams = Type.Object({ connection: Name, identifier: MemberId });
const responses = { ...errorResponses, 403: Type.Ref(ErrorBody) };

/** Connections: an organization's OAuth apps at providers (admin key, inside the /v1 admin block). */
export const connectionRoutes: FastifyPluginAsyncTypebox<{ connections: Connections }> = async (app, { connections }) => {
  const tags = ['vault'];
  const security = [{ adminKey: [] }];
  app.post(
    '/organizations/:org/connections',
    {
      schema: {
        tags,
        security,
        params: OrgParams,
        body: Type.Object(
          {
            name: Name,
            provider: Name,
            client_id: Type.String({ minLength: 1, maxLength: 500 }),
            client_secret: Type.String({ minLength: 1, maxLength: 2000, description: 'Sealed at rest; never shown again.' }),
            scopes: Type.Optional(Type.Array(Scope, { maxItems: 100, uniqueItems: true })),
            endpoints: Type.Optional(Endpoints),
          },
          { additionalProperties: false },
        ),
        response: { 201: Connection, ...errorResponses },
      },
    },
    async (request, reply) => reply.code(201).send(await connections.create(request.params.org, request.body, auditContextOf(request))),
  );
  app.get(
    '/organizations/:org/connections',
    { schema: { tags, security, params: OrgParams, response: { 200: Type.Object({ data: Type.Array(Connection) }), ...errorResponses } } },
    async (request) => ({ data: await connections.list(request.params.org) }),
  );
  app.delete(
    '/organizations/:org/connections/:name',
    {
      schema: {
        tags,
        security,
        params: Type.Object({ org: OrgParams.properties.org, name: Name }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await connections.remove(request.params.org, request.params.name, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
};

/** Connected accounts and tools: an admin key naming the user, or the agent's token for the user. */
export const connectedAccountRoutes: FastifyPluginAsyncTypebox<{
  accounts: ConnectedAccounts;
  links: AuthorizationLinks;
  owners: AccountOwners;
  tools: ToolExecution;
  adminKeys: AdminKeys;
  accessTokens: AccessTokens;
  /** The resource agents' tokens must be for (`<issuer>/vault`). */
  audience: string;
}> = async (app, { accounts, links, owners, tools, adminKeys, accessTokens, audience }) => {
  app.addHook('onRequest', callerHook(adminKeys, accessTokens, { audience }));
  const tags = ['vault'];
  const security: Record<string, string[]>[] = [{ adminKey: [] }, { accessToken: [] }];
  app.post(
    '/connected-accounts/authorization-link',
    {
      schema: {
        tags,
        security,
        body: Type.Object(
          {
            connection: Name,
            identifier: Type.Optional(MemberId),
            organization: Organization,
            scopes: Type.Optional(Type.Array(Scope, { maxItems: 100 })),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            link: Type.String(),
            expires_at: Type.String(),
            connection: Type.String(),
            identifier: Type.String(),
            scopes: Type.Array(Type.String()),
          }),
          ...responses,
        },
      },
    },
    async (request, reply) => {
      const { caller, context } = callerOf(request);
      const owner = await owners.resolve(caller, request.body, context);
      // Connecting an account lets agents act in it: the same permission as acting.
      await owners.authorizeOn(caller, owner, request.body.connection, 'write', context);
      return reply.code(201).send(await links.createLink(owner, request.body, context));
    },
  );
  app.get(
    '/connected-accounts/:connection/:identifier',
    {
      schema: {
        tags,
        security,
        params: AccountParams,
        querystring: Type.Object({ organization: Organization, token: Type.Optional(Type.Boolean({ default: true })) }),
        response: { 200: Account, ...responses },
      },
    },
    async (request) => {
      const { caller, context } = callerOf(request);
      const owner = await owners.resolve(caller, { ...request.query, identifier: request.params.identifier }, context);
      if (request.query.token === false) return accounts.status(owner, request.params.connection);
      // The raw provider credential leaves Mandate: that is an export of it.
      await owners.authorizeOn(caller, owner, request.params.connection, 'export', context);
      return accounts.live(owner, request.params.connection, context);
    },
  );
  app.delete(
    '/connected-accounts/:connection/:identifier',
    {
      schema: {
        tags,
        security,
        params: AccountParams,
        querystring: Type.Object({ organization: Organization }),
        response: { 200: Account, ...responses },
      },
    },
    async (request) => {
      const { caller, context } = callerOf(request);
      const owner = await owners.resolve(caller, { ...request.query, identifier: request.params.identifier }, context);
      await owners.authorizeOn(caller, owner, request.params.connection, 'write', context);
      return accounts.disconnect(owner, request.params.connection, context);
    },
  );
  app.post(
    '/connected-accounts/:connection/:identifier/proxy',
    {
      schema: {
        tags,
        security,
        params: AccountParams,
        body: Type.Object(
          {
            organization: Organization,
            method: Type.Union(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => Type.Literal(m))),
            path: Type.String({ minLength: 1, maxLength: 2000, description: 'Under the provider API base.' }),
            query: Type.Optional(Type.Record(Type.String({ maxLength: 200 }), Type.String({ maxLength: 2000 }))),
            body: Type.Optional(Type.Unknown()),
          },
          { additionalProperties: false },
        ),
        response: { 200: ToolResult, ...responses },
      },
    },
    async (request) => {
      const { caller, context } = callerOf(request);
      return tools.proxy(caller, request.params.connection, { ...request.body, identifier: request.params.identifier }, context);
    },
  );
  app.post(
    '/tools/execute',
    {
      schema: {
        tags,
        security,
        body: Type.Object(
          {
            tool_name: Name,
            tool_input: Type.Unknown(),
            identifier: Type.Optional(MemberId),
            organization: Organization,
            connection: Type.Optional(Name),
          },
          { additionalProperties: false },
        ),
        response: { 200: ToolResult, ...responses },
      },
    },
    async (request) => {
      const { caller, context } = callerOf(request);
      return tools.execute(caller, request.body, context);
    },
  );
  app.get(
    '/tools',
    {
      schema: {
        tags,
        security,
        response: {
          200: Type.Object({
            data: Type.Array(
              Type.Object({
                name: Type.String(),
                provider: Type.String(),
                description: Type.String(),
                permission: Type.String(),
                input_schema: Type.Unknown(),
              }),
            ),
          }),
          ...responses,
        },
      },
    },
    async () => ({
      data: Object.values(TOOLS).map((t) => ({
        name: t.name,
        provider: t.provider,
        description: t.description,
        permission: `${t.permission.tool}:${t.permission.action}`,
        input_schema: t.inputSchema,
      })),
    }),
  );
};

export const VAULT_COOKIE = 'mandate_vault';

/** The pages the user's browser visits: the start of an authorization link, and the provider's return. */
export const vaultPageRoutes: FastifyPluginAsyncTypebox<{
  links: AuthorizationLinks;
  sessions: Sessions;
  secureCookies: boolean;
  rateLimit: { max: number; windowSeconds: number };
}> = async (app, { links, sessions, secureCookies, rateLimit }) => {
  await app.register(cookie);
  const errorPage = (message: string) =>
    page('Could not connect the account', html`<h1>Could not connect the account</h1><p>${message}</p>`);
  app.get(
    '/vault/authorize/:token',
    {
      schema: { hide: true, params: Type.Object({ token: Type.String({ pattern: '^mnd_vl_[A-Za-z0-9_-]{43}$' }) }) },
      config: { rateLimit },
    },
    async (request, reply) => {
      try {
        const credential = request.cookies?.[SESSION_COOKIE];
        const session = credential ? await sessions.authenticate(credential).catch(() => undefined) : undefined;
        if (session) assertNotImpersonating(session, 'connect third-party accounts');
        const { redirect, browserCookie } = await links.start(request.params.token, session);
        // Lax: the provider's redirect back is a top-level GET, which Lax cookies accompany.
        reply.setCookie(VAULT_COOKIE, browserCookie, {
          path: '/vault',
          httpOnly: true,
          secure: secureCookies,
          sameSite: 'lax',
          maxAge: 600,
        });
        return reply.code(302).header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').redirect(redirect);
      } catch (error) {
        if (!(error instanceof VaultLinkError)) throw error;
        return reply.code(error.status).headers(pageSecurityHeaders()).send(errorPage(error.message));
      }
    },
  );
  app.get(
    '/vault/callback/:connection',
    {
      schema: {
        hide: true,
        params: Type.Object({ connection: Type.String({ pattern: '^con_[0-9a-z]{26}$' }) }),
        querystring: Type.Object({
          code: Type.Optional(Type.String({ maxLength: 4096 })),
          state: Type.Optional(Type.String({ maxLength: 200 })),
          error: Type.Optional(Type.String({ maxLength: 200 })),
        }),
      },
      config: { rateLimit },
    },
    async (request, reply) => {
      try {
        const done = await links.callback(
          request.params.connection,
          request.query,
          request.cookies?.[VAULT_COOKIE],
          auditContextOf(request),
        );
        reply.clearCookie(VAULT_COOKIE, { path: '/vault' });
        return reply
          .headers(pageSecurityHeaders())
          .send(
            page(
              'Account connected',
              html`<h1>Account connected</h1><p>Your ${done.provider} account is connected (${done.connection}). You can close this window.</p>`,
            ),
          );
      } catch (error) {
        if (!(error instanceof VaultLinkError)) throw error;
        return reply.code(error.status).headers(pageSecurityHeaders()).send(errorPage(error.message));
      }
    },
  );
};
