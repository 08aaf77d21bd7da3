import { describe, expect, it } from 'vitest';
import { fromScimmy, ScimError } from './errors.js';
import { userSchema } from './schemas.js';

describe('fromScimmy', () => {
  it("turns scimmy's coercion TypeErrors into 400 invalidValue", () => {
    let thrown: unknown;
    try {
      userSchema().coerceInbound({ userName: 'typed@example.com', emails: 'not-a-list' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ScimError);
    expect(thrown).toMatchObject({ status: 400, scimType: 'invalidValue', detail: expect.stringContaining("Attribute 'emails'") });
  });

  it('leaves any other TypeError alone, so a bug is a 500 and not blamed on the client', () => {
    expect(fromScimmy(new TypeError("Cannot read properties of undefined (reading 'value')"))).toBeUndefined();
    expect(fromScimmy(new RangeError('Maximum call stack size exceeded'))).toBeUndefined();
  });
});
