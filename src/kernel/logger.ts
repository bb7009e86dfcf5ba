/**
 * One structured line per event: JSON when stdout is not a TTY (or `--log-format json`), pretty on a TTY.
 * Secrets are redacted by path so a key can never reach a log line by accident.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions { level?: string; format?: 'json' | 'pretty' | 'auto'; name?: string }

export const REDACT_PATHS = [
  'key', 'api_key', 'token', 'password', 'secret',
  '*.key', '*.api_key', '*.token', '*.password', '*.secret',
  'req.headers["x-api-key"]', 'req.headers.authorization',
];

export function createLogger(opts: LoggerOptions = {}): Logger {
  const format = opts.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  return pino({
    name: opts.name,
    level: opts.level ?? process.env.FUSTOR_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  });
}

/** A logger that writes nothing (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
