/**
 * FustorError: every expected failure carries a catalogue code (src/protocol/errors.ts), the HTTP status
 * derived from it and whether a retry can help. Unexpected errors stay plain `Error`s and become 500s
 * whose stack never leaves the process.
 */
import { ERROR_CODES, type ErrorCode } from '../protocol/errors.ts';

export class FustorError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly retryable: boolean;
  readonly details?: unknown;
  /** Seconds for a Retry-After header (503). */
  readonly retryAfter?: number;

  constructor(code: ErrorCode, message: string, opts: { details?: unknown; retryAfter?: number } = {}) {
    super(message);
    this.name = 'FustorError';
    this.code = code;
    this.httpStatus = ERROR_CODES[code].status;
    this.retryable = code === 'BUSY' || code === 'NOT_READY';
    this.details = opts.details;
    this.retryAfter = opts.retryAfter;
  }

  toBody(): { code: string; message: string; detail: unknown; details?: unknown } {
    const body: { code: string; message: string; detail: unknown; details?: unknown } = { code: this.code, message: this.message, detail: this.message };
    if (this.details !== undefined) body.details = this.details;
    return body;
  }
}

export const notFound = (message: string, details?: unknown) => new FustorError('NOT_FOUND', message, { details });
export const badRequest = (message: string, details?: unknown) => new FustorError('BAD_REQUEST', message, { details });
export const notReady = (message: string, retryAfter: number) => new FustorError('NOT_READY', message, { retryAfter });
export const busy = (message: string, retryAfter: number) => new FustorError('BUSY', message, { retryAfter });
export const forbidden = (message: string) => new FustorError('FORBIDDEN', message);

export function isFustorError(e: unknown): e is FustorError {
  return e instanceof FustorError;
}
