import SCIMMY from 'scimmy';
import { getAttribute, isObject } from './attribute-paths.js';
import { fromScimmy, ScimError } from './errors.js';
import { normalizeOperations } from './idp-quirks.js';
import { PATCH_OP_SCHEMA, type ResourceSchema, type ScimDocument } from './schemas.js';

/**
 * Applies a PatchOp request (RFC 7644 §3.5.2) to a resource with scimmy's PatchOp, which
 * resolves paths and value filters against the schema and enforces types, `required` and
 * mutability; IdP quirks are rewritten first (idp-quirks.ts). Returns the patched resource, or
 * undefined when the operations change nothing.
 */
export async function applyPatch(schema: ResourceSchema, document: ScimDocument, body: unknown): Promise<ScimDocument | undefined> {
  if (!isObject(body)) throw new ScimError(400, 'the body must be a PatchOp message', 'invalidSyntax');
  const schemas = getAttribute(body, 'schemas') ?? [PATCH_OP_SCHEMA];
  const operations = normalizeOperations(getAttribute(body, 'Operations'), document, schema);
  try {
    const message = new SCIMMY.Messages.PatchOp({ schemas, Operations: operations } as never);
    const patched = await message.apply(schema.instance(document));
    return patched ? (JSON.parse(JSON.stringify(patched)) as ScimDocument) : undefined;
  } catch (error) {
    throw fromScimmy(error) ?? error;
  }
}
