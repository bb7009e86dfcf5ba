/**
 * Errors of the inotify reader. They are local classes rather than FustorErrors: they never cross the
 * wire as such — the fs source turns them into pipe status (degraded reasons) and log lines.
 */
import { constants } from 'node:os';

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));

/** errno number of a code name (`EINVAL` → 22). */
export function errnoNumber(code: string): number {
  return (constants.errno as Record<string, number>)[code] ?? 0;
}

/** `ENOSPC` for errno 28, `E<n>` when the number is unknown. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `E${errno}`;
}

/**
 * `addWatch` failed for one directory. `code` is the errno name: `ENOSPC` (the user's inotify watch limit,
 * `fs.inotify.max_user_watches`, is reached — see `isWatchLimit`), `ENOENT`, `EACCES`, `ENOTDIR` (also a
 * symlink: watches never follow them), `EEXIST` (this directory's inode is already watched under another id),
 * `EINVAL`, `ENAMETOOLONG`, `ENOMEM`…
 */
export class InotifyWatchError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly path: string;

  constructor(path: string, errno: number) {
    const code = errnoName(errno);
    super(code === 'ENOSPC'
      ? `cannot watch ${path}: the inotify watch limit is reached (ENOSPC; raise fs.inotify.max_user_watches)`
      : `cannot watch ${path}: ${code}`);
    this.name = 'InotifyWatchError';
    this.code = code;
    this.errno = errno;
    this.path = path;
  }

  /** True when the watch limit is reached: lower the watch budget and cover the rest by audit. */
  get isWatchLimit(): boolean {
    return this.code === 'ENOSPC';
  }
}

/**
 * The helper process is not usable: `unavailable` (no binary and it cannot be built, or it cannot start),
 * `exited` (it died or was killed — call `start()` again and re-add the watches), `closed` (the reader was
 * closed while the request was pending), `not_running` (called before `start()` or after a failure).
 */
export type InotifyHelperFailure = 'unavailable' | 'exited' | 'closed' | 'not_running';

export class InotifyHelperError extends Error {
  readonly reason: InotifyHelperFailure;

  constructor(reason: InotifyHelperFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InotifyHelperError';
    this.reason = reason;
  }
}
