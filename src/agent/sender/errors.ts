/**
 * What can go wrong between an agent and a gateway, classified by what the caller should do about it
 * (not by HTTP status). Every failure of GatewayClient is a GatewayError; the sender never lets one
 * escape into the event loop.
 */

export type GatewayErrorKind =
  /** 419 (or 404 on a session-scoped call, as the predecessor answered): create a new session. */
  | 'session_obsolete'
  /** 409: the view is locked by another session (allow_concurrent_push: false), or the pipe is not running. */
  | 'locked'
  /** 413: the body is over the gateway's max_body_bytes; send smaller batches. */
  | 'too_large'
  /** 503: the pipe queue is full; resend after `retryAfterSec`. */
  | 'busy'
  /** Connection refused/reset, DNS, TLS, a socket closed before the answer: the gateway may be down. */
  | 'unreachable'
  /** No complete answer within the request timeout; the request may or may not have been applied. */
  | 'timeout'
  /** 401/403: the key is missing, unknown or not for this pipe/session. Retrying helps only after a reconfiguration. */
  | 'auth'
  /** 400/422 and other 4xx: the request itself is wrong; resending it cannot help. */
  | 'rejected'
  /** 5xx other than 503, or an answer that is not the expected JSON. */
  | 'server'
  /** The caller aborted the request (the sender is closing). */
  | 'aborted';

export class GatewayError extends Error {
  override readonly name = 'GatewayError';

  constructor(
    readonly kind: GatewayErrorKind,
    message: string,
    readonly opts: { status?: number; retryAfterSec?: number; code?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
  }

  get status(): number | undefined {
    return this.opts.status;
  }

  /** Seconds from the Retry-After header of a 503 (1 when the header is missing or unreadable). */
  get retryAfterSec(): number | undefined {
    return this.opts.retryAfterSec;
  }

  /** The gateway's error code (`BUSY`, `SESSION_OBSOLETE`, …) when the body carried one. */
  get code(): string | undefined {
    return this.opts.code;
  }

  /** Whether the request may have reached the gateway and been applied (resend with the same identity). */
  get ambiguous(): boolean {
    return this.kind === 'timeout' || this.kind === 'unreachable';
  }
}

export function isGatewayError(e: unknown, kind?: GatewayErrorKind): e is GatewayError {
  return e instanceof GatewayError && (kind === undefined || e.kind === kind);
}

/**
 * A bulk send (snapshot, audit, on-demand job) whose session ended: the data queued for that session was
 * discarded, and the owner must restart the run for the new session if it still should.
 */
export class SessionResetError extends Error {
  override readonly name = 'SessionResetError';

  constructor(readonly epoch: number | null, message = 'the session was reset; the run was aborted') {
    super(message);
  }
}

/** The sender was closed while the call was waiting. */
export class SenderClosedError extends Error {
  override readonly name = 'SenderClosedError';

  constructor() {
    super('the sender is closed');
  }
}
