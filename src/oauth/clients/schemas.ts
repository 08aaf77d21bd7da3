import { type Static, Type } from '@sinclair/typebox';
import { DisplayName } from '../../tenancy/schemas.js';
import { GRANT_TYPES } from '../grants/grant-types.js';

export const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;

const GrantType = Type.Union(GRANT_TYPES.map((g) => Type.Literal(g)));
const AuthMethod = Type.Union(AUTH_METHODS.map((m) => Type.Literal(m)));
const RedirectUri = Type.String({ minLength: 8, maxLength: 2048, format: 'uri' });

export const Client = Type.Object({
  client_id: Type.String(),
  org_id: Type.Union([Type.String(), Type.Null()]),
  agent_id: Type.Union([Type.String(), Type.Null()]),
  client_name: Type.String(),
  client_type: Type.Union([Type.Literal('confidential'), Type.Literal('public')]),
  token_endpoint_auth_method: AuthMethod,
  redirect_uris: Type.Array(Type.String()),
  grant_types: Type.Array(GrantType),
  scope: Type.String(),
  resources: Type.Array(Type.String()),
  jwks: Type.Optional(Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) })),
  require_pushed_authorization_requests: Type.Boolean(),
  backchannel_client_notification_endpoint: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});
export type Client = Static<typeof Client>;

/** A client as created: its secret appears here once and is never shown again. */
export const ClientWithSecret = Type.Intersect([Client, Type.Object({ client_secret: Type.Optional(Type.String()) })]);

export const CreateClient = Type.Object(
  {
    client_name: DisplayName,
    client_type: Type.Union([Type.Literal('confidential'), Type.Literal('public')]),
    token_endpoint_auth_method: Type.Optional(AuthMethod),
    redirect_uris: Type.Optional(Type.Array(RedirectUri, { maxItems: 20, uniqueItems: true })),
    grant_types: Type.Array(GrantType, { minItems: 1, uniqueItems: true }),
    scope: Type.String({ maxLength: 2000, description: 'Space-delimited scopes the client may ever receive.' }),
    resources: Type.Array(Type.String({ maxLength: 2048 }), {
      maxItems: 50,
      uniqueItems: true,
      description: 'Resource identifiers the client may ask for.',
    }),
    jwks: Type.Optional(
      Type.Object(
        { keys: Type.Array(Type.Record(Type.String(), Type.Unknown()), { minItems: 1, maxItems: 10 }) },
        { additionalProperties: false, description: 'Public keys for private_key_jwt (RFC 7523).' },
      ),
    ),
    require_pushed_authorization_requests: Type.Optional(
      Type.Boolean({ description: 'RFC 9126 §6: refuse requests that were not pushed.' }),
    ),
    agent_id: Type.Optional(
      Type.String({ pattern: '^agt_[0-9a-z]{26}$', description: 'The agent this client is a credential of; its tokens carry agent_id.' }),
    ),
    backchannel_client_notification_endpoint: Type.Optional(
      Type.String({
        format: 'uri',
        maxLength: 2048,
        description:
          'OpenID CIBA ping mode: Mandate POSTs `{ "auth_req_id" }` here (with the request’s client_notification_token) once a person decided.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateClient = Static<typeof CreateClient>;

export const UpdateClient = Type.Object(
  {
    client_name: Type.Optional(DisplayName),
    redirect_uris: Type.Optional(Type.Array(RedirectUri, { maxItems: 20, uniqueItems: true })),
    scope: Type.Optional(Type.String({ maxLength: 2000 })),
    resources: Type.Optional(Type.Array(Type.String({ maxLength: 2048 }), { maxItems: 50, uniqueItems: true })),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('disabled')])),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateClient = Static<typeof UpdateClient>;

export const RotateSecret = Type.Object(
  {
    overlap_seconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 30 * 86_400, default: 0, description: 'How long the previous secret keeps working.' }),
    ),
  },
  { additionalProperties: false },
);
export type RotateSecret = Static<typeof RotateSecret>;
