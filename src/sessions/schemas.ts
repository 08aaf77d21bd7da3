import { type Static, Type } from '@sinclair/typebox';
import { DisplayName } from '../tenancy/schemas.js';

const ClaimName = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.:/-]+$' });

export const ClaimMapping = Type.Object(
  { subject: ClaimName, email: ClaimName, name: Type.Optional(ClaimName), roles: Type.Optional(ClaimName) },
  { additionalProperties: false },
);
export type ClaimMapping = Static<typeof ClaimMapping>;

export const TrustedTokenProfile = Type.Object({
  id: Type.String(),
  org_id: Type.String(),
  name: Type.String(),
  issuer: Type.String(),
  audience: Type.String(),
  jwks_url: Type.Union([Type.String(), Type.Null()]),
  public_key_pem: Type.Union([Type.String(), Type.Null()]),
  claim_mapping: ClaimMapping,
  max_token_age_seconds: Type.Integer(),
  jit_provisioning: Type.Boolean(),
  login_url: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});
export type TrustedTokenProfile = Static<typeof TrustedTokenProfile>;

export const CreateTrustedTokenProfile = Type.Object(
  {
    name: DisplayName,
    issuer: Type.String({ minLength: 1, maxLength: 2048 }),
    audience: Type.String({ minLength: 1, maxLength: 2048 }),
    jwks_url: Type.Optional(Type.String({ format: 'uri', maxLength: 2048 })),
    public_key_pem: Type.Optional(Type.String({ maxLength: 10_000, pattern: '^-----BEGIN PUBLIC KEY-----' })),
    claim_mapping: Type.Optional(ClaimMapping),
    max_token_age_seconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 3600, default: 300 })),
    jit_provisioning: Type.Optional(Type.Boolean({ default: false })),
    login_url: Type.Optional(Type.String({ format: 'uri', maxLength: 2048 })),
  },
  { additionalProperties: false },
);
export type CreateTrustedTokenProfile = Static<typeof CreateTrustedTokenProfile>;

export const Attest = Type.Object(
  {
    organization: Type.String({ minLength: 1, maxLength: 100, description: 'Organization id or slug.' }),
    token: Type.String({ minLength: 10, maxLength: 16_384, description: 'The JWT your identity stack issued.' }),
  },
  { additionalProperties: false },
);
export type Attest = Static<typeof Attest>;
