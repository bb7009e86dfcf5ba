/**
 * InotifyReader: drives native/inotify-helper (a child process) and turns its record stream into
 * InotifyEvent batches. Callback-based rather than an EventEmitter: an EventEmitter's 'error' throws when
 * nobody listens, and this reader must never throw into the event loop.
 *
 * Contract:
 * - `onEvents(batch)` receives the events of one stdout chunk, in kernel order. Events of a watch that was
 *   removed with `removeWatch` are dropped from the moment of the call.
 * - `onError(error)` receives an InotifyHelperError (reason `exited`) when the helper dies, and any error
 *   thrown by `onEvents`. After `exited` the reader is stopped with no watches: call `start()` again and
 *   re-add the watches (then re-walk, since events were lost in between).
 * - Watch ids are the reader's own (1, 2, …, never reused while the reader lives), not kernel wds.
 * - `dirPath` is the watch's path as given to `addWatch` (or updated by `renameWatches`) when the batch was
 *   read. Paths are strings in the surrogate-escape convention of src/protocol/paths.ts, so non-UTF-8 names
 *   round-trip to the exact bytes.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Disposable } from '../../../kernel/disposable.ts';
import { decodeName, encodeName } from '../../../protocol/paths.ts';
import { InotifyHelperError, InotifyWatchError, errnoName, errnoNumber } from './errors.ts';
import { ensureHelperBinary } from './helper-binary.ts';
import {
  IN, NO_ID, PROTOCOL_VERSION, RecordParser, RecordType, addCommand, kindsOf, removeCommand,
  type HelperRecord, type InotifyEventKind,
} from './wire.ts';

export type { InotifyEventKind } from './wire.ts';

export interface InotifyEvent {
  /** The watch (reader id) the event belongs to; 0 for `overflow`, which concerns the whole instance. */
  watchId: number;
  /** Path of the watched directory ('' for `overflow`). */
  dirPath: string;
  /** Entry name inside the directory; '' when the event is about the directory itself (`*_self`, `ignored`). */
  name: string;
  kind: InotifyEventKind;
  isDir: boolean;
  /** Rename cookie pairing `moved_from` with `moved_to`; 0 otherwise. */
  cookie: number;
}

export interface InotifyReaderOptions {
  onEvents: (events: InotifyEvent[]) => void;
  onError: (error: Error) => void;
  /** Helper binary; default: native/build/inotify-helper, built on demand. */
  helperPath?: string;
  /** Command the helper path is appended to (tests use `unshare …` / `setpriv …`); default none. */
  spawnPrefix?: readonly string[];
  /** How long `start()` waits for the helper's READY record; default 10 s. */
  startTimeoutMs?: number;
}

type State = 'stopped' | 'starting' | 'running' | 'closing';

interface PendingAdd { path: string; resolve: (id: number) => void; reject: (error: Error) => void }

const MAX_PATH_BYTES = 4095; // PATH_MAX minus the NUL; longer lines would lose their id in the helper

export class InotifyReader implements Disposable {
  private state: State = 'stopped';
  private child: ChildProcessWithoutNullStreams | null = null;
  private generation = 0;
  private readonly parser = new RecordParser();
  private readonly watches = new Map<number, string>();
  private readonly pendingAdds = new Map<number, PendingAdd>();
  private readonly pendingRemoves = new Map<number, () => void>();
  private nextId = 1;
  private stderrTail = '';
  private ready: { resolve: () => void; reject: (error: Error) => void } | null = null;
  private exited: Promise<void> = Promise.resolve();
  private closeBeforeSpawn = false;

  constructor(private readonly options: InotifyReaderOptions) {}

  /** Spawns the helper and waits until it is ready. Rejects with InotifyHelperError (`unavailable`). */
  async start(): Promise<void> {
    if (this.state !== 'stopped') throw new InotifyHelperError('not_running', `inotify reader: start() while ${this.state}`);
    this.state = 'starting';
    this.closeBeforeSpawn = false;
    let helper: string;
    try {
      helper = this.options.helperPath ?? await ensureHelperBinary();
    } catch (error) {
      this.state = 'stopped';
      throw error;
    }
    if (this.closeBeforeSpawn) {
      this.state = 'stopped';
      throw new InotifyHelperError('closed', 'inotify reader closed while starting');
    }
    const gen = ++this.generation;
    const [command, ...args] = [...(this.options.spawnPrefix ?? []), helper];
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.parser.reset();
    this.stderrTail = '';
    let onExited!: () => void;
    this.exited = new Promise((resolve) => { onExited = resolve; });
    let gone = false;
    const onGone = (detail: string, cause?: unknown): void => {
      if (gone) return;
      gone = true;
      this.onHelperGone(gen, detail, cause);
      onExited();
    };
    child.stdout.on('data', (chunk: Buffer) => this.onData(gen, chunk));
    child.stderr.on('data', (chunk: Buffer) => { this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-2000); });
    child.stdin.on('error', () => { /* EPIPE after the helper died: reported by 'close' */ });
    child.on('error', (error) => onGone(`cannot run ${command}: ${error.message}`, error));
    // 'close' comes after stdout is drained, so every event the helper wrote is delivered first.
    child.on('close', (code, signal) => onGone(signal ? `killed by ${signal}` : `exited with code ${code}`));

    const timeoutMs = this.options.startTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.ready = { resolve, reject };
        timer = setTimeout(() => this.settleStart(new InotifyHelperError('unavailable', `inotify helper did not start within ${timeoutMs} ms`)), timeoutMs);
      });
    } catch (error) {
      child.kill('SIGKILL'); // no-op when it already exited; either way wait so that state is 'stopped'
      await this.exited;
      throw error;
    } finally {
      clearTimeout(timer);
      this.ready = null;
    }
    // state became 'running' in the READY handler, synchronously, so a death right after READY is reported.
  }

  /** Watches one directory (not recursive). Resolves to the watch id; rejects with InotifyWatchError. */
  addWatch(dirPath: string): Promise<number> {
    const child = this.child;
    if (this.state !== 'running' || child === null) {
      return Promise.reject(new InotifyHelperError('not_running', `cannot watch ${dirPath}: the inotify reader is ${this.state}`));
    }
    if (dirPath.length === 0 || dirPath.includes('\0')) return Promise.reject(new InotifyWatchError(dirPath, errnoNumber('EINVAL')));
    if (encodeName(dirPath).length > MAX_PATH_BYTES) return Promise.reject(new InotifyWatchError(dirPath, errnoNumber('ENAMETOOLONG')));
    const id = this.allocateId();
    return new Promise<number>((resolve, reject) => {
      this.pendingAdds.set(id, { path: dirPath, resolve, reject });
      child.stdin.write(addCommand(id, dirPath));
    });
  }

  /** Stops watching; no event of this watch is delivered after the call. Resolves once the helper confirms. */
  removeWatch(id: number): Promise<void> {
    if (!this.watches.delete(id) || this.state !== 'running' || this.child === null) return Promise.resolve();
    const child = this.child;
    return new Promise<void>((resolve) => {
      this.pendingRemoves.set(id, resolve);
      child.stdin.write(removeCommand(id));
    });
  }

  /**
   * A watched directory moved (a paired directory move): re-point the watches of `fromDir` and of every
   * directory below it to `toDir`. The kernel watches follow the inodes, so they stay valid. Returns how
   * many watches changed. O(watches).
   */
  renameWatches(fromDir: string, toDir: string): number {
    let changed = 0;
    for (const [id, path] of this.watches) {
      if (path === fromDir || (path.startsWith(fromDir) && path.charCodeAt(fromDir.length) === 47)) {
        this.watches.set(id, toDir + path.slice(fromDir.length));
        changed++;
      }
    }
    return changed;
  }

  /** Current path of a watch, or undefined when it is not (or no longer) active. */
  watchPath(id: number): string | undefined {
    return this.watches.get(id);
  }

  get watchCount(): number {
    return this.watches.size;
  }

  /** Process id of the running helper (diagnostics, tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** Ends the helper (stdin EOF → clean exit; SIGKILL after 2 s). Pending calls reject with reason `closed`. */
  async close(): Promise<void> {
    const child = this.child;
    if (this.state === 'starting' && child === null) this.closeBeforeSpawn = true; // still building the binary
    if (child === null || this.state === 'stopped') return;
    if (this.state !== 'closing') {
      this.state = 'closing';
      child.stdin.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
      void this.exited.then(() => clearTimeout(killer));
    }
    await this.exited;
  }

  dispose(): Promise<void> {
    return this.close();
  }

  private allocateId(): number {
    // Terminates: at most 2^32 - 2 ids can be in use at once.
    for (;;) {
      const id = this.nextId;
      this.nextId = id >= NO_ID - 1 ? 1 : id + 1;
      if (!this.watches.has(id) && !this.pendingAdds.has(id)) return id;
    }
  }

  private onData(gen: number, chunk: Buffer): void {
    if (gen !== this.generation) return;
    const batch: InotifyEvent[] = [];
    this.parser.push(chunk, (record) => this.onRecord(record, batch));
    if (batch.length === 0) return;
    try {
      this.options.onEvents(batch);
    } catch (error) {
      this.report(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private onRecord(record: HelperRecord, batch: InotifyEvent[]): void {
    switch (record.type) {
      case RecordType.EVENT: {
        const dirPath = this.watches.get(record.id);
        if (dirPath === undefined) return; // removed by the caller, or a reply we no longer wait for
        const name = record.name.length === 0 ? '' : decodeName(record.name);
        const isDir = (record.mask & IN.ISDIR) !== 0;
        for (const kind of kindsOf(record.mask)) {
          batch.push({ watchId: record.id, dirPath, name, kind, isDir, cookie: record.arg });
          if (kind === 'ignored') this.watches.delete(record.id); // the kernel dropped the watch
        }
        return;
      }
      case RecordType.OVERFLOW:
        batch.push({ watchId: 0, dirPath: '', name: '', kind: 'overflow', isDir: false, cookie: 0 });
        return;
      case RecordType.ADDED: {
        const pending = this.pendingAdds.get(record.id);
        if (pending === undefined) return;
        this.pendingAdds.delete(record.id);
        this.watches.set(record.id, pending.path);
        pending.resolve(record.id);
        return;
      }
      case RecordType.ERROR: {
        const pending = this.pendingAdds.get(record.id);
        if (pending !== undefined) {
          this.pendingAdds.delete(record.id);
          pending.reject(new InotifyWatchError(pending.path, record.arg));
        } else {
          this.report(new Error(`inotify helper rejected a command: ${errnoName(record.arg)}`));
        }
        return;
      }
      case RecordType.REMOVED: {
        const resolve = this.pendingRemoves.get(record.id);
        this.pendingRemoves.delete(record.id);
        resolve?.();
        return;
      }
      case RecordType.READY:
        if (record.arg !== PROTOCOL_VERSION) {
          this.settleStart(new InotifyHelperError('unavailable', `inotify helper speaks protocol ${record.arg}, expected ${PROTOCOL_VERSION}: rebuild it (npm rebuild)`));
          this.child?.kill('SIGKILL');
        } else if (this.ready !== null && this.state === 'starting') {
          this.state = 'running';
          this.settleStart(null);
        }
        return;
      case RecordType.FATAL: {
        const code = errnoName(record.arg);
        const hint = code === 'EMFILE' ? ' (fs.inotify.max_user_instances reached)' : '';
        this.settleStart(new InotifyHelperError('unavailable', `inotify_init1 failed: ${code}${hint}`));
        return;
      }
      default:
        this.report(new Error(`inotify helper sent an unknown record type ${record.type}`));
    }
  }

  /** The helper process is gone (exit, kill, spawn failure): fail everything pending, stop. */
  private onHelperGone(gen: number, detail: string, cause: unknown): void {
    if (gen !== this.generation) return;
    const previous = this.state;
    const stderr = this.stderrTail.trim();
    const message = `inotify helper ${detail}${stderr ? `: ${stderr}` : ''}`;
    this.state = 'stopped';
    this.child = null;
    this.watches.clear();
    this.parser.reset();
    const reason = previous === 'closing' ? 'closed' : 'exited';
    for (const [, pending] of this.pendingAdds) pending.reject(new InotifyHelperError(reason, `cannot watch ${pending.path}: ${message}`));
    this.pendingAdds.clear();
    for (const [, resolve] of this.pendingRemoves) resolve();
    this.pendingRemoves.clear();
    if (this.ready !== null) {
      this.settleStart(new InotifyHelperError(previous === 'closing' ? 'closed' : 'unavailable', message, { cause }));
    } else if (previous === 'running') {
      this.report(new InotifyHelperError('exited', message, { cause }));
    }
  }

  /** Ends the wait in start(): resolved (null) or rejected. Cleared at once so a later death is reported. */
  private settleStart(error: Error | null): void {
    const ready = this.ready;
    this.ready = null;
    if (error === null) ready?.resolve();
    else ready?.reject(error);
  }

  private report(error: Error): void {
    try {
      this.options.onError(error);
    } catch {
      // onError itself failed: nothing sensible is left to tell; never throw into the event loop.
    }
  }
}
