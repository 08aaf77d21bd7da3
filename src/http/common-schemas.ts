import { type TSchema, Type } from '@sinclair/typebox';

/** The documented error body, referenced by every /v1 route's responses. */
export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'Stable error code (see src/errors.ts).' }),
    error_description: Type.String(),
    request_id: Type.String(),
  },
  { $id: 'ErrorBody', title: 'Error' },
);

/** Standard error responses of an authenticated /v1 route. */
export const errorResponses = {
  400: Type.Ref(ErrorBody),
  401: Type.Ref(ErrorBody),
  404: Type.Ref(ErrorBody),
  409: Type.Ref(ErrorBody),
};

export function pageOf<T extends TSchema>(item: T) {
  return Type.Object({ data: Type.Array(item), next_cursor: Type.Union([Type.String(), Type.Null()]) });
}

export const OrgParams = Type.Object({ org: Type.String({ minLength: 1, maxLength: 100, description: 'Organization id or slug.' }) });
