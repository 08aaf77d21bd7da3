import { type Static, Type } from '@sinclair/typebox';
import { Classification, Environment } from '../agents/schemas.js';
import { DisplayName } from '../tenancy/schemas.js';

const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '^[a-z0-9][a-z0-9_.-]*$' });

export const PermissionInput = Type.Object(
  {
    tool: Name,
    action: Name,
    environments: Type.Optional(Type.Array(Environment, { minItems: 1, uniqueItems: true })),
    max_classification: Type.Optional(Classification),
    approval_required: Type.Optional(Type.Boolean()),
    constraints: Type.Optional(
      Type.Record(Type.String({ maxLength: 100 }), Type.Unknown(), {
        description: 'Attribute limits carried into decisions, e.g. {"fields": "billing"}.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type PermissionInput = Static<typeof PermissionInput>;

export const Role = Type.Object({
  id: Type.String(),
  org_id: Type.String(),
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  permissions: Type.Array(PermissionInput),
  created_at: Type.String({ format: 'date-time' }),
});
export type Role = Static<typeof Role>;

export const CreateRole = Type.Object(
  {
    name: DisplayName,
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    permissions: Type.Array(PermissionInput, { maxItems: 500 }),
  },
  { additionalProperties: false },
);
export type CreateRole = Static<typeof CreateRole>;

export const Binding = Type.Union([
  Type.Object({ member_id: Type.String({ pattern: '^mbr_[0-9a-z]{26}$' }) }, { additionalProperties: false }),
  Type.Object({ agent_id: Type.String({ pattern: '^agt_[0-9a-z]{26}$' }) }, { additionalProperties: false }),
]);
export type Binding = Static<typeof Binding>;

export const CheckRequest = Type.Object(
  {
    token: Type.Optional(Type.String({ maxLength: 8192, description: 'A Mandate access token; its user, agent and consent are used.' })),
    organization: Type.Optional(Type.String({ maxLength: 100 })),
    member_id: Type.Optional(Type.String({ pattern: '^mbr_[0-9a-z]{26}$' })),
    agent_id: Type.Optional(Type.String({ pattern: '^agt_[0-9a-z]{26}$' })),
    tool: Name,
    action: Name,
    context: Type.Object(
      { environment: Environment, classification: Classification, attributes: Type.Optional(Type.Record(Type.String(), Type.Unknown())) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type CheckRequest = Static<typeof CheckRequest>;
