import SCIMMY from 'scimmy';
import { fromScimmy, ScimError } from './errors.js';

type SchemaDefinition = SCIMMY.Types.SchemaDefinition;
type Attribute = SCIMMY.Types.Attribute;

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const LIST_RESPONSE_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** A SCIM resource as JSON: the shape clients send and receive. */
export type ScimDocument = Record<string, unknown>;

/** What a filter, a sort or a projection needs to know of one attribute (RFC 7643 §7). */
export interface AttributeInfo {
  type: string;
  multiValued: boolean;
  caseExact: boolean;
  mutability: string;
}

/**
 * One resource type's schema: the core schema with its extensions, from scimmy's RFC 7643
 * definitions. Mandate keeps its own copies (scimmy's are module-wide and `extend` mutates them),
 * without `password`: Mandate never takes a password over SCIM, so it is dropped on input.
 */
export class ResourceSchema {
  private readonly resourceClass: ScimResourceClass;

  constructor(
    readonly definition: SchemaDefinition,
    readonly extensions: readonly SchemaDefinition[],
  ) {
    for (const extension of extensions) definition.extend(extension);
    this.resourceClass = resourceClassFor(definition);
  }

  get id(): string {
    return this.definition.id;
  }

  /** The attribute at `path` (`name.givenName`, `urn:…:enterprise:2.0:User:manager.value`), or undefined when the schema has none. */
  attribute(path: string): AttributeInfo | undefined {
    try {
      const found = this.definition.attribute(path) as Attribute | SchemaDefinition;
      if (!(found instanceof SCIMMY.Types.Attribute))
        return { type: 'complex', multiValued: false, caseExact: false, mutability: 'readWrite' };
      const config = found.config as { multiValued?: boolean; caseExact?: boolean; mutable?: boolean | string };
      const mutability = config.mutable === false ? 'readOnly' : typeof config.mutable === 'string' ? config.mutable : 'readWrite';
      return { type: String(found.type), multiValued: config.multiValued === true, caseExact: config.caseExact === true, mutability };
    } catch {
      return undefined;
    }
  }

  /** The extension schema a URN-qualified name belongs to, with the rest of the name. */
  splitUrn(name: string): { schema: string; rest: string } | undefined {
    const lower = name.toLowerCase();
    for (const id of [this.definition.id, ...this.extensions.map((e) => e.id)]) {
      if (lower === id.toLowerCase()) return { schema: id, rest: '' };
      if (lower.startsWith(`${id.toLowerCase()}:`)) return { schema: id, rest: name.slice(id.length + 1) };
    }
    return undefined;
  }

  isExtension(id: string): boolean {
    return this.extensions.some((e) => e.id === id);
  }

  /**
   * Validates and coerces a resource a client sent (RFC 7643 types, required attributes,
   * mutability); unknown attributes and read-only ones (`id`, `meta`, `groups`) are dropped.
   */
  coerceInbound(body: unknown): ScimDocument {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new ScimError(400, 'the body must be a JSON object', 'invalidSyntax');
    try {
      return plain(new this.resourceClass(body as ScimDocument, 'in'));
    } catch (error) {
      throw fromScimmy(error) ?? error;
    }
  }

  /** A scimmy resource instance of `document`, for scimmy's PatchOp to work on. */
  instance(document: ScimDocument): SCIMMY.Types.Schema {
    return new this.resourceClass(document, 'both');
  }

  /** RFC 7643 §7 schema representations, for /Schemas. */
  describe(basepath: string): unknown[] {
    return [this.definition, ...this.extensions].map((d) => {
      const { attributes, ...rest } = plain(d.describe(basepath)) as ScimDocument & { attributes: unknown[] };
      return { ...rest, attributes };
    });
  }
}

type ScimResourceClass = new (data: ScimDocument, direction: string) => SCIMMY.Types.Schema;

function resourceClassFor(definition: SchemaDefinition): ScimResourceClass {
  return class extends SCIMMY.Types.Schema {
    static override get id(): string {
      return definition.id;
    }
    static override get definition(): SchemaDefinition {
      return definition;
    }
    constructor(data: ScimDocument, direction: string) {
      super(data as never, direction as never);
      Object.assign(this, definition.coerce(data, direction));
    }
  } as unknown as ScimResourceClass;
}

function plain(value: unknown): ScimDocument {
  return JSON.parse(JSON.stringify(value)) as ScimDocument;
}

/**
 * RFC 7643 §7: canonical values are a "SHOULD"; IdPs send their own email and phone types, so
 * the copies accept any value instead of refusing the user.
 */
function relaxed(attribute: Attribute): Attribute {
  const config = { ...(attribute.config as Record<string, unknown>), canonicalValues: false };
  return new SCIMMY.Types.Attribute(
    String(attribute.type) as never,
    attribute.name,
    config as SCIMMY.Types.Attribute.AttributeConfig,
    attribute.subAttributes?.map(relaxed),
  );
}

function copyOf(base: SchemaDefinition, without: string[] = []): SchemaDefinition {
  const attributes = base.attributes
    .filter((a) => a instanceof SCIMMY.Types.Attribute && !(a.config as { shadow?: boolean }).shadow && !without.includes(a.name))
    .map(relaxed);
  return new SCIMMY.Types.SchemaDefinition(base.name, base.id, base.description, attributes);
}

/** The User resource type: RFC 7643 §4.1 core schema plus the §4.3 enterprise extension. */
export function userSchema(): ResourceSchema {
  return new ResourceSchema(copyOf(SCIMMY.Schemas.User.definition, ['password']), [copyOf(SCIMMY.Schemas.EnterpriseUser.definition)]);
}

/** The Group resource type: RFC 7643 §4.2. */
export function groupSchema(): ResourceSchema {
  return new ResourceSchema(copyOf(SCIMMY.Schemas.Group.definition), []);
}
