import { type Static, type TObject, type TSchema, Type } from '@sinclair/typebox';

/**
 * Printable text: no C0/C1 control characters and no bidirectional overrides, which could
 * make a name display differently from what it is (CVE-2021-42574, "Trojan Source").
 */
const PRINTABLE = '^[^\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]*$';

export const DisplayName = Type.String({ minLength: 1, maxLength: 200, pattern: PRINTABLE, description: 'Human-readable name.' });

export const Slug = Type.String({
  minLength: 2,
  maxLength: 63,
  pattern: '^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$',
  description: 'URL-safe unique handle: lower-case letters, digits and inner hyphens.',
});

/** What an organization has Mandate do when an anomaly rule fires (anomaly/detector.ts). */
export const AnomalyResponse = Type.Union([
  Type.Literal('alert'),
  Type.Literal('downscope'),
  Type.Literal('require_approval'),
  Type.Literal('suspend'),
]);
export type AnomalyResponse = Static<typeof AnomalyResponse>;

export const OrganizationSettings = Type.Object(
  {
    allowed_auth_methods: Type.Optional(
      Type.Array(Type.Union([Type.Literal('sso'), Type.Literal('trusted_token'), Type.Literal('break_glass')]), {
        uniqueItems: true,
        description: 'How members may log in; unset allows every method.',
      }),
    ),
    sso_required: Type.Optional(
      Type.Boolean({
        description:
          'SSO only: members log in through the organization’s SSO connections, except its break-glass members. Turning it on is refused while nobody could log in that way.',
      }),
    ),
    security_alert_webhook_url: Type.Optional(
      Type.String({
        format: 'uri',
        maxLength: 2000,
        description:
          'Where Mandate POSTs security alerts (JSON), such as every break-glass login: https only, never a private address. Unset: the audit event and the log only.',
      }),
    ),
    access_token_ttl_seconds: Type.Optional(Type.Integer({ minimum: 30, maximum: 86_400, description: 'Access-token lifetime override.' })),
    session_ttl_seconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 2_592_000, description: 'Human session lifetime.' })),
    delegation_agents: Type.Optional(
      Type.Array(Type.String({ pattern: '^agt_[0-9a-z]{26}$' }), {
        uniqueItems: true,
        maxItems: 1000,
        description:
          'Agents allowed to act for this organization’s users by token exchange; unset: every active agent of the organization.',
      }),
    ),
    approvals_webhook_url: Type.Optional(
      Type.String({
        format: 'uri',
        maxLength: 2000,
        description:
          'Where Mandate POSTs each new approval request (CIBA) so approvers hear of it: https only, never a private address. Unset: the approvals inbox only.',
      }),
    ),
    audit_retention_days: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 36_500,
        description:
          'Days audit events are kept in the database; older ones are archived to MANDATE_AUDIT_ARCHIVE_DIR (verifiable offline) and deleted. Unset: kept forever.',
      }),
    ),
    anomaly_responses: Type.Optional(
      Type.Object(
        {
          rate_spike: Type.Optional(AnomalyResponse),
          denied_burst: Type.Optional(AnomalyResponse),
          bulk_export: Type.Optional(AnomalyResponse),
          first_tool_use: Type.Optional(AnomalyResponse),
          outside_environment: Type.Optional(AnomalyResponse),
          new_network: Type.Optional(AnomalyResponse),
        },
        {
          additionalProperties: false,
          description:
            'What Mandate does when an anomaly rule fires for an agent, per rule: alert (audit event and webhook only, the default), downscope (its new tokens carry read scopes only), require_approval (every allow becomes approval_required), suspend (the kill switch).',
        },
      ),
    ),
    anomaly_webhook_url: Type.Optional(
      Type.String({
        format: 'uri',
        maxLength: 2000,
        description: 'Where Mandate POSTs each anomaly finding (JSON): https only, never a private address. Unset: the audit event only.',
      }),
    ),
    agent_rate_limit_per_minute: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        description:
          'Most token requests, and most authorization checks, one agent may make per minute on each node; over it: 429. Unset: no per-agent limit.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type OrganizationSettings = Static<typeof OrganizationSettings>;

/**
 * An RFC 7396 merge patch of `schema`: every member may also be `null` (remove it), nested objects
 * are patches themselves, and a member the schema does not know may only be removed.
 */
function mergePatchOf(schema: TObject): TObject {
  const properties = Object.fromEntries(
    Object.entries(schema.properties).map(([name, property]: [string, TSchema]) => {
      const value = property.type === 'object' && property.properties ? mergePatchOf(property as TObject) : property;
      return [name, Type.Optional(Type.Union([value, Type.Null()]))];
    }),
  );
  const { properties: _, additionalProperties: __, ...options } = schema;
  return Type.Object(properties, { ...options, additionalProperties: Type.Null() });
}

type Patch<T> = {
  [K in keyof T]?: (NonNullable<T[K]> extends unknown[] ? T[K] : T[K] extends object | undefined ? Patch<T[K]> : T[K]) | null;
};

/** PATCH /v1/organizations/{org} `settings`: merged into the current settings (RFC 7396). */
export const OrganizationSettingsPatch = mergePatchOf(OrganizationSettings);
export type OrganizationSettingsPatch = Patch<OrganizationSettings>;

export const Organization = Type.Object({
  id: Type.String({ example: 'org_01jqz5x3m4c5d6e7f8g9h0jkmn' }),
  slug: Slug,
  name: Type.String(),
  settings: OrganizationSettings,
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});
export type Organization = Static<typeof Organization>;

export const CreateOrganization = Type.Object(
  { slug: Slug, name: DisplayName, settings: Type.Optional(OrganizationSettings) },
  { additionalProperties: false },
);
export type CreateOrganization = Static<typeof CreateOrganization>;

export const UpdateOrganization = Type.Object(
  {
    slug: Type.Optional(Slug),
    name: Type.Optional(DisplayName),
    settings: Type.Optional(
      Type.Union([Type.Unsafe<OrganizationSettingsPatch>(OrganizationSettingsPatch), Type.Null()], {
        description:
          'Merged into the current settings (RFC 7396 JSON Merge Patch): settings given replace theirs, null removes one, nested objects merge; settings: null removes them all.',
      }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateOrganization = Static<typeof UpdateOrganization>;

export const MemberStatus = Type.Union([Type.Literal('active'), Type.Literal('invited'), Type.Literal('suspended')]);

export const Email = Type.String({ format: 'email', minLength: 3, maxLength: 254 });

export const Member = Type.Object({
  id: Type.String({ example: 'mbr_01jqz5x3m4c5d6e7f8g9h0jkmn' }),
  org_id: Type.String(),
  email: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  status: MemberStatus,
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});
export type Member = Static<typeof Member>;

export const CreateMember = Type.Object(
  { email: Email, name: Type.Optional(DisplayName), status: Type.Optional(MemberStatus) },
  { additionalProperties: false },
);
export type CreateMember = Static<typeof CreateMember>;

export const UpdateMember = Type.Object(
  { email: Type.Optional(Email), name: Type.Optional(Type.Union([DisplayName, Type.Null()])), status: Type.Optional(MemberStatus) },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateMember = Static<typeof UpdateMember>;
