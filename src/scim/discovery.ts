import { notFound } from './errors.js';
import { MAX_RESULTS } from './list-query.js';
import {
  ENTERPRISE_USER_SCHEMA,
  GROUP_SCHEMA,
  LIST_RESPONSE_SCHEMA,
  type ResourceSchema,
  type ScimDocument,
  USER_SCHEMA,
} from './schemas.js';

export interface ScimDiscoveryDeps {
  baseUrl: string;
  users: ResourceSchema;
  groups: ResourceSchema;
}

/**
 * RFC 7644 §4 discovery: what this server supports, exactly. Bulk, password changes and the
 * /.search and /Me endpoints are not offered.
 */
export class ScimDiscovery {
  constructor(private readonly deps: ScimDiscoveryDeps) {}

  /** RFC 7643 §5. */
  serviceProviderConfig(): ScimDocument {
    return {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
      patch: { supported: true },
      bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
      filter: { supported: true, maxResults: MAX_RESULTS },
      changePassword: { supported: false },
      sort: { supported: true },
      etag: { supported: true },
      authenticationSchemes: [
        {
          type: 'oauthbearertoken',
          name: 'OAuth Bearer Token',
          description:
            'Authorization: Bearer with a SCIM token (mnd_scim_…) an administrator creates with POST /v1/organizations/{org}/scim-tokens; it provisions that organization.',
          specUri: 'https://www.rfc-editor.org/rfc/rfc6750',
          primary: true,
        },
      ],
      meta: { resourceType: 'ServiceProviderConfig', location: `${this.deps.baseUrl}/ServiceProviderConfig` },
    };
  }

  /** RFC 7643 §6. */
  resourceTypes(): ScimDocument[] {
    const type = (id: string, endpoint: string, description: string, schema: string, extensions: string[]): ScimDocument => ({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
      id,
      name: id,
      endpoint,
      description,
      schema,
      ...(extensions.length > 0 && { schemaExtensions: extensions.map((extension) => ({ schema: extension, required: false })) }),
      meta: { resourceType: 'ResourceType', location: `${this.deps.baseUrl}/ResourceTypes/${id}` },
    });
    return [
      type('User', '/Users', 'Members of the organization', USER_SCHEMA, [ENTERPRISE_USER_SCHEMA]),
      type('Group', '/Groups', 'Groups of members; their names map to roles', GROUP_SCHEMA, []),
    ];
  }

  resourceType(id: string): ScimDocument {
    const found = this.resourceTypes().find((type) => type.id === id);
    if (!found) throw notFound('resource type');
    return found;
  }

  /** RFC 7643 §7. */
  schemas(): ScimDocument[] {
    return [
      ...this.deps.users.describe(`${this.deps.baseUrl}/Schemas`),
      ...this.deps.groups.describe(`${this.deps.baseUrl}/Schemas`),
    ] as ScimDocument[];
  }

  schema(id: string): ScimDocument {
    const found = this.schemas().find((schema) => schema.id === id);
    if (!found) throw notFound('schema');
    return found;
  }

  /** RFC 7644 §4: /Schemas and /ResourceTypes answer ListResponses. */
  static list(resources: ScimDocument[]): ScimDocument {
    return {
      schemas: [LIST_RESPONSE_SCHEMA],
      totalResults: resources.length,
      itemsPerPage: resources.length,
      startIndex: 1,
      Resources: resources,
    };
  }
}
