/**
 * Where the inotify helper binary lives, and an on-demand build for when the install hook did not run
 * (fresh clone with `--ignore-scripts`, source edited since). The build itself is scripts/build-native.mjs,
 * so install time and run time compile with the same command.
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { InotifyHelperError } from './errors.ts';

const repoRoot = new URL('../../../../', import.meta.url);
export const HELPER_SOURCE = fileURLToPath(new URL('native/inotify-helper.c', repoRoot));
export const HELPER_BINARY = fileURLToPath(new URL('native/build/inotify-helper', repoRoot));
const BUILD_SCRIPT = fileURLToPath(new URL('scripts/build-native.mjs', repoRoot));

let pending: Promise<string> | null = null;

async function mtime(path: string): Promise<number | null> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return null;
  }
}

async function buildIfNeeded(): Promise<string> {
  const [binary, source] = await Promise.all([mtime(HELPER_BINARY), mtime(HELPER_SOURCE)]);
  if (binary !== null && (source === null || binary >= source)) return HELPER_BINARY;
  if (process.platform !== 'linux') {
    throw new InotifyHelperError('unavailable', `fustor: the inotify helper is Linux-only (platform ${process.platform})`);
  }
  if (source === null) throw new InotifyHelperError('unavailable', `fustor: the inotify helper source is missing (${HELPER_SOURCE})`);
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [BUILD_SCRIPT, '--strict', '--quiet'], { timeout: 120_000 }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      const line = stderr.trim().split('\n').pop() || error.message;
      reject(new InotifyHelperError('unavailable', line, { cause: error }));
    });
  });
  if ((await mtime(HELPER_BINARY)) === null) throw new InotifyHelperError('unavailable', `fustor: the inotify helper build produced no ${HELPER_BINARY}`);
  return HELPER_BINARY;
}

/**
 * Path of a helper binary that is up to date with its source, building it first when needed.
 * Rejects with an InotifyHelperError (reason `unavailable`) whose message is the one line to show the
 * operator (for example: no C compiler found — install build-essential).
 */
export function ensureHelperBinary(): Promise<string> {
  pending ??= buildIfNeeded().catch((error: unknown) => {
    pending = null; // a later call may succeed once a compiler is installed
    throw error;
  });
  return pending;
}
