/** Public surface of the agent's sender (the agent side of the ingest protocol). */
export { PipeSender, type PipeSenderOptions, type PipeSenderStatus, type BatchingOptions } from './pipe-sender.ts';
export { BatchSender, MAX_REALTIME_LINGER_MS, type BatchSenderOptions, type SendOptions, type SendSource, type SessionSource, type AbortInfo } from './batch-sender.ts';
export { Session, type SessionOptions, type SessionInfo, type RoleChange, type SessionReset, type SessionStatus, type HeartbeatStatus, type SessionListener } from './session.ts';
export { GatewayClient, parseRetryAfter, type GatewayClientOptions, type AuditSignalResult, type SentinelFeedbackResult } from './gateway-client.ts';
export { GatewayError, SessionResetError, SenderClosedError, isGatewayError, type GatewayErrorKind } from './errors.ts';
export { Backoff, backoffDelay, backoffCeiling, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
export type { SenderStatus, SenderCounters } from './sender-stats.ts';
export type { PreEncodedRows } from './batch-encoding.ts';
