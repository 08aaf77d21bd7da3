import SCIMMY from 'scimmy';

/** RFC 7644 §3.12: the `scimType` keywords Mandate answers with. */
export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive';

export const SCIM_ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** The SCIM error body (RFC 7644 §3.12): a documented exception to the /v1 error shape. */
export interface ScimErrorBody {
  schemas: [typeof SCIM_ERROR_SCHEMA];
  /** The HTTP status, as a string. */
  status: string;
  scimType?: ScimType;
  detail: string;
}

/** An error of the SCIM surface, with a client-safe detail. */
export class ScimError extends Error {
  override name = 'ScimError';

  constructor(
    readonly status: number,
    /** Shown to the client: never a secret, never internal detail. */
    readonly detail: string,
    readonly scimType?: ScimType,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }

  body(): ScimErrorBody {
    return {
      schemas: [SCIM_ERROR_SCHEMA],
      status: String(this.status),
      ...(this.scimType && { scimType: this.scimType }),
      detail: this.detail,
    };
  }
}

export const invalidValue = (detail: string): ScimError => new ScimError(400, detail, 'invalidValue');
export const invalidFilter = (detail: string): ScimError => new ScimError(400, detail, 'invalidFilter');
export const notFound = (what: string): ScimError => new ScimError(404, `${what} not found`);
export const uniqueness = (detail: string): ScimError => new ScimError(409, detail, 'uniqueness');
export const mutability = (detail: string): ScimError => new ScimError(400, detail, 'mutability');
export const invalidSyntax = (detail: string): ScimError => new ScimError(400, detail, 'invalidSyntax');
export const preconditionFailed = (): ScimError => new ScimError(412, 'the resource changed: its version no longer matches If-Match');

const SCIM_TYPES: ReadonlySet<string> = new Set<ScimType>([
  'invalidFilter',
  'tooMany',
  'uniqueness',
  'mutability',
  'invalidSyntax',
  'invalidPath',
  'noTarget',
  'invalidValue',
  'invalidVers',
  'sensitive',
]);

/**
 * The TypeErrors scimmy throws when it coerces a resource against its schema (types.js:
 * `Attribute 'x' expected …`, `Required attribute 'x' is missing`, `Complex attribute 'x' …`,
 * `Missing values for required schema extension 'x'`). Any other TypeError is a bug, not input.
 */
const SCIMMY_COERCION = /^(?:Attribute|Required attribute|Complex attribute|Missing values for required schema extension) '/;

/**
 * scimmy reports bad resources and patches as its own SCIMError, and attribute coercion failures
 * as plain TypeErrors: both are the client's input, so both become 400s with their message.
 */
export function fromScimmy(error: unknown): ScimError | undefined {
  if (error instanceof SCIMMY.Types.Error) {
    const scimType = SCIM_TYPES.has(error.scimType) ? (error.scimType as ScimType) : 'invalidValue';
    return new ScimError(error.status >= 400 && error.status < 500 ? error.status : 400, error.message, scimType);
  }
  if (error instanceof TypeError && SCIMMY_COERCION.test(error.message)) return invalidValue(error.message);
  return undefined;
}
