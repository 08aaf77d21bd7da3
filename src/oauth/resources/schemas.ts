import { type Static, Type } from '@sinclair/typebox';
import { DisplayName } from '../../tenancy/schemas.js';

export const ScopeName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$' });

export const ScopeDefinition = Type.Object(
  { name: ScopeName, description: Type.String({ minLength: 1, maxLength: 500, pattern: '^[^\\u0000-\\u001f\\u007f]*$' }) },
  { additionalProperties: false },
);
export type ScopeDefinition = Static<typeof ScopeDefinition>;

export const ResourceIdentifier = Type.String({
  minLength: 8,
  maxLength: 2048,
  format: 'uri',
  description: 'Resource indicator (RFC 8707 §2): absolute https URI without fragment; http only for localhost.',
});

export const Resource = Type.Object({
  id: Type.String(),
  identifier: Type.String(),
  name: Type.String(),
  scopes: Type.Array(ScopeDefinition),
  access_token_ttl_seconds: Type.Union([Type.Integer(), Type.Null()]),
  org_ids: Type.Union([Type.Array(Type.String()), Type.Null()]),
  agent_id: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});
export type Resource = Static<typeof Resource>;

const OrgIds = Type.Union(
  [Type.Array(Type.String({ pattern: '^org_[0-9a-z]{26}$' }), { maxItems: 1000, uniqueItems: true }), Type.Null()],
  {
    description: 'Organizations that may obtain tokens for this resource; null: all.',
  },
);
const ServingAgent = Type.Union([Type.String({ pattern: '^agt_[0-9a-z]{26}$' }), Type.Null()], {
  description:
    'The agent that serves this resource: it may exchange the user tokens it receives for tokens to other resources (RFC 8693). null: none.',
});
const Ttl = Type.Union([Type.Integer({ minimum: 30, maximum: 86_400 }), Type.Null()]);
const Scopes = Type.Array(ScopeDefinition, { maxItems: 200 });

export const CreateResource = Type.Object(
  {
    identifier: ResourceIdentifier,
    name: DisplayName,
    scopes: Scopes,
    access_token_ttl_seconds: Type.Optional(Ttl),
    org_ids: Type.Optional(OrgIds),
    agent_id: Type.Optional(ServingAgent),
  },
  { additionalProperties: false },
);
export type CreateResource = Static<typeof CreateResource>;

export const UpdateResource = Type.Object(
  {
    name: Type.Optional(DisplayName),
    scopes: Type.Optional(Scopes),
    access_token_ttl_seconds: Type.Optional(Ttl),
    org_ids: Type.Optional(OrgIds),
    agent_id: Type.Optional(ServingAgent),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateResource = Static<typeof UpdateResource>;
