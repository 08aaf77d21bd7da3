import { type Static, Type } from '@sinclair/typebox';
import { DisplayName } from '../tenancy/schemas.js';

const ClaimName = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.:/-]+$' });
const OidcScope = Type.String({ minLength: 1, maxLength: 200, pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' });

/** An email domain routed to a connection; stored lower-cased. */
export const EmailDomain = Type.String({
  minLength: 3,
  maxLength: 253,
  pattern: '^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9-]{2,63}$',
});

export const OidcSettingsInput = Type.Object(
  {
    issuer: Type.String({
      format: 'uri',
      maxLength: 2000,
      description: 'The IdP’s issuer; its discovery document must name exactly this issuer.',
    }),
    client_id: Type.String({ minLength: 1, maxLength: 500 }),
    client_secret: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2000,
        description: 'Sealed at rest, never shown again. Omit for a public client (PKCE only).',
      }),
    ),
    scopes: Type.Optional(
      Type.Array(OidcScope, { maxItems: 50, uniqueItems: true, description: 'Default: openid email profile. `openid` is always asked.' }),
    ),
    claims: Type.Optional(
      Type.Object(
        {
          email: Type.Optional(ClaimName),
          name: Type.Optional(ClaimName),
          groups: Type.Optional(ClaimName),
        },
        { additionalProperties: false, description: 'Claim names; default email, name and groups.' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type OidcSettingsInput = Static<typeof OidcSettingsInput>;

/** The protocol's own settings object, checked by that protocol (SsoProtocol.prepareSettings). */
const ProtocolSettings = Type.Unsafe<Record<string, unknown>>({ type: 'object', additionalProperties: true });

const Protocol = Type.Union([Type.Literal('oidc'), Type.Literal('saml')]);
const Status = Type.Union([Type.Literal('active'), Type.Literal('disabled')]);
const Domains = Type.Array(EmailDomain, { maxItems: 100, uniqueItems: true, description: 'Email domains routed to this connection.' });

export const CreateSsoConnection = Type.Object(
  {
    protocol: Protocol,
    name: DisplayName,
    domains: Type.Optional(Domains),
    jit_provisioning: Type.Optional(Type.Boolean({ description: 'Create members at their first login. Default false.' })),
    status: Type.Optional(Status),
    oidc: Type.Optional(OidcSettingsInput),
    saml: Type.Optional(ProtocolSettings),
  },
  { additionalProperties: false },
);
export type CreateSsoConnection = Static<typeof CreateSsoConnection>;

export const UpdateSsoConnection = Type.Object(
  {
    name: Type.Optional(DisplayName),
    domains: Type.Optional(Domains),
    jit_provisioning: Type.Optional(Type.Boolean()),
    status: Type.Optional(Status),
    oidc: Type.Optional(OidcSettingsInput),
    saml: Type.Optional(ProtocolSettings),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateSsoConnection = Static<typeof UpdateSsoConnection>;

export const SsoConnection = Type.Object({
  id: Type.String(),
  org_id: Type.String(),
  protocol: Protocol,
  name: Type.String(),
  status: Status,
  domains: Type.Array(Type.String()),
  jit_provisioning: Type.Boolean(),
  callback_url: Type.String({ description: 'OIDC redirect URI and SAML Assertion Consumer Service URL.' }),
  client_secret_set: Type.Boolean(),
  oidc: Type.Optional(ProtocolSettings),
  saml: Type.Optional(ProtocolSettings),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});
export type SsoConnection = Static<typeof SsoConnection>;

export const SsoConnectionParams = Type.Object({
  org: Type.String({ minLength: 1, maxLength: 100, description: 'Organization id or slug.' }),
  connection: Type.String({ pattern: '^sso_[0-9a-z]{26}$' }),
});
