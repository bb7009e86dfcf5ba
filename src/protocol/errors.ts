/**
 * The catalogue of error codes that cross the wire. Every error body is `{code, message, detail}`
 * (`detail` repeats the message for clients of the predecessor's API). docs/errors.md documents each code;
 * a test checks the two stay in step.
 */
import { Type } from 'typebox';

export const ERROR_CODES = {
  AUTH_MISSING: { status: 401, text: 'the X-API-Key header (or a Bearer token) is missing' },
  AUTH_INVALID: { status: 401, text: 'the key is not known' },
  FORBIDDEN: { status: 403, text: 'the key is valid but not authorised for this view or pipe' },
  NOT_FOUND: { status: 404, text: 'the path, view, pipe, session or job does not exist' },
  BAD_REQUEST: { status: 400, text: 'a parameter is invalid (for example a path with `..`)' },
  TOO_MANY_ITEMS: { status: 400, text: 'the response would exceed max_tree_items; page with limit/cursor or narrow the path' },
  VALIDATION: { status: 422, text: 'the request body does not match the schema; the message names the first bad field' },
  SESSION_LOCKED: { status: 409, text: 'the view is locked by another session (allow_concurrent_push: false)' },
  SESSION_CONFLICT: { status: 409, text: 'the session cannot be created for this pipe' },
  SESSION_OBSOLETE: { status: 419, text: 'the session is unknown or expired; create a new session' },
  PAYLOAD_TOO_LARGE: { status: 413, text: 'the request body is larger than the limit; send smaller batches' },
  BUSY: { status: 503, text: 'the pipe queue is full; retry after the Retry-After seconds' },
  NOT_READY: { status: 503, text: 'the view is not ready (no leader, or the initial snapshot is in progress)' },
  UNAUTHORIZED_ROLE: { status: 403, text: 'the operator token is valid but its role does not allow this request (viewer < operator < admin)' },
  CONFLICT: { status: 409, text: 'the request conflicts with the stored state (a resource still referenced, or a name already taken)' },
  INTERNAL: { status: 500, text: 'an unexpected error; the gateway keeps running and logged it' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export const ErrorBody = Type.Object({
  code: Type.String(),
  message: Type.String(),
  detail: Type.Unknown(),
  details: Type.Optional(Type.Unknown()),
});
