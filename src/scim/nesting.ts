import { invalidSyntax } from './errors.js';

/** No SCIM resource or PatchOp nests anywhere near this deep; deeper bodies are refused by the JSON parser (http/json-body.ts), and the IdP quirks walk no further. */
export const MAX_NESTING = 32;

export function tooDeep(max = MAX_NESTING): ReturnType<typeof invalidSyntax> {
  return invalidSyntax(`the JSON body is nested more than ${max} levels deep`);
}
