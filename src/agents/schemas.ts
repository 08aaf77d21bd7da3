import { type Static, Type } from '@sinclair/typebox';
import { DisplayName } from '../tenancy/schemas.js';

export const Environment = Type.Union([Type.Literal('dev'), Type.Literal('staging'), Type.Literal('prod')]);
export const Classification = Type.Union([
  Type.Literal('public'),
  Type.Literal('internal'),
  Type.Literal('confidential'),
  Type.Literal('regulated'),
]);
const Purpose = Type.String({ minLength: 1, maxLength: 1000, pattern: '^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f]*$' });
const Tools = Type.Array(Type.String({ minLength: 1, maxLength: 100, pattern: '^[a-z0-9][a-z0-9_.-]*$' }), {
  maxItems: 200,
  uniqueItems: true,
});

export const Agent = Type.Object({
  id: Type.String(),
  org_id: Type.String(),
  name: Type.String(),
  purpose: Type.String(),
  owner_member_id: Type.String(),
  technical_owner: Type.Union([Type.String(), Type.Null()]),
  environment: Environment,
  version: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([Type.Literal('active'), Type.Literal('suspended'), Type.Literal('decommissioned')]),
  status_reason: Type.Union([Type.String(), Type.Null()]),
  max_data_classification: Classification,
  allowed_tools: Type.Array(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  last_access_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  tokens_issued: Type.Integer(),
});
export type Agent = Static<typeof Agent>;

export const CreateAgent = Type.Object(
  {
    name: DisplayName,
    purpose: Purpose,
    owner_member_id: Type.String({ pattern: '^mbr_[0-9a-z]{26}$' }),
    technical_owner: Type.Optional(DisplayName),
    environment: Environment,
    version: Type.Optional(Type.String({ minLength: 1, maxLength: 50, pattern: '^[A-Za-z0-9._+-]+$' })),
    max_data_classification: Type.Optional(Classification),
    allowed_tools: Type.Optional(Tools),
  },
  { additionalProperties: false },
);
export type CreateAgent = Static<typeof CreateAgent>;

export const UpdateAgent = Type.Object(
  {
    name: Type.Optional(DisplayName),
    purpose: Type.Optional(Purpose),
    owner_member_id: Type.Optional(Type.String({ pattern: '^mbr_[0-9a-z]{26}$' })),
    technical_owner: Type.Optional(Type.Union([DisplayName, Type.Null()])),
    environment: Type.Optional(Environment),
    version: Type.Optional(Type.String({ minLength: 1, maxLength: 50, pattern: '^[A-Za-z0-9._+-]+$' })),
    max_data_classification: Type.Optional(Classification),
    allowed_tools: Type.Optional(Tools),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateAgent = Static<typeof UpdateAgent>;

export const StatusChange = Type.Object(
  { reason: Type.String({ minLength: 3, maxLength: 500, pattern: '^[^\\u0000-\\u001f\\u007f]*$' }) },
  { additionalProperties: false },
);
export type StatusChange = Static<typeof StatusChange>;
