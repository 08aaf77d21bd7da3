import { InvalidRequestError } from '../../errors.js';

/** A tool's input failed its schema, or a path placeholder had no usable value. */
export class ToolInputError extends InvalidRequestError {
  override name = 'ToolInputError';
  constructor(
    /** ajv's messages (`/title must NOT have more than 200 characters`), or ours for placeholders. */
    readonly errors: string[],
  ) {
    super(`tool_input is invalid: ${errors.join('; ')}`);
  }
}

/** A request path that could leave the provider's API base (traversal, another host, smuggled query). */
export class ApiPathError extends InvalidRequestError {
  override name = 'ApiPathError';
  constructor(reason: string) {
    super(`path is not allowed: ${reason}`);
  }
}
