/** Public surface of the inotify reader (see README.md). */
export { InotifyReader, type InotifyEvent, type InotifyEventKind, type InotifyReaderOptions } from './inotify-reader.ts';
export { MovePairer, type MoveEnd, type MoveEvent, type PairedEvent, type SingleEvent, type MovePairerOptions } from './move-pairer.ts';
export { InotifyHelperError, InotifyWatchError, type InotifyHelperFailure } from './errors.ts';
export { ensureHelperBinary, HELPER_BINARY, HELPER_SOURCE } from './helper-binary.ts';
