/**
 * The helper's side of the pipe: record layout, command encoding and the inotify mask → event kind
 * mapping. The C side is native/inotify-helper.c; README.md documents both.
 */
import { encodeName } from '../../../protocol/paths.ts';

/** Record types written by the helper. */
export const RecordType = {
  EVENT: 1,
  ADDED: 2,
  ERROR: 3,
  REMOVED: 4,
  OVERFLOW: 5,
  READY: 6,
  FATAL: 7,
} as const;

export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 16;
/** Id used in records that concern no watch. */
export const NO_ID = 0xffff_ffff;

/** inotify(7) mask bits. */
export const IN = {
  MODIFY: 0x2,
  ATTRIB: 0x4,
  CLOSE_WRITE: 0x8,
  MOVED_FROM: 0x40,
  MOVED_TO: 0x80,
  CREATE: 0x100,
  DELETE: 0x200,
  DELETE_SELF: 0x400,
  MOVE_SELF: 0x800,
  UNMOUNT: 0x2000,
  Q_OVERFLOW: 0x4000,
  IGNORED: 0x8000,
  ISDIR: 0x4000_0000,
} as const;

export type InotifyEventKind =
  | 'close_write' | 'modify' | 'attrib' | 'create' | 'delete' | 'moved_from' | 'moved_to'
  | 'delete_self' | 'move_self' | 'unmount' | 'ignored' | 'overflow';

/** Kind per mask bit, in the order used when a mask carries several bits (the kernel sends one). */
export const KIND_BITS: ReadonlyArray<readonly [number, InotifyEventKind]> = [
  [IN.CREATE, 'create'],
  [IN.MODIFY, 'modify'],
  [IN.ATTRIB, 'attrib'],
  [IN.CLOSE_WRITE, 'close_write'],
  [IN.MOVED_FROM, 'moved_from'],
  [IN.MOVED_TO, 'moved_to'],
  [IN.DELETE, 'delete'],
  [IN.DELETE_SELF, 'delete_self'],
  [IN.MOVE_SELF, 'move_self'],
  [IN.UNMOUNT, 'unmount'],
  [IN.IGNORED, 'ignored'],
];

const KIND_BY_BIT = new Map<number, InotifyEventKind>(KIND_BITS);

/** Kinds carried by an event mask (IN_ISDIR aside): one in practice, several only if a kernel merged bits. */
export function kindsOf(mask: number): InotifyEventKind[] {
  const single = KIND_BY_BIT.get((mask & ~IN.ISDIR) >>> 0);
  if (single !== undefined) return [single];
  return KIND_BITS.filter(([bit]) => (mask & bit) !== 0).map(([, kind]) => kind);
}

/** One decoded record. `name` stays as bytes; the reader decodes it only for records it delivers. */
export interface HelperRecord {
  type: number;
  id: number;
  mask: number;
  /** cookie (EVENT), wd (ADDED), errno (ERROR, REMOVED, FATAL), version (READY). */
  arg: number;
  name: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/**
 * Splits the helper's stdout stream into records. Chunks may end anywhere: an incomplete tail is kept
 * (copied, so the big chunk it came from can be collected) and completed by the next chunk.
 */
export class RecordParser {
  private carry: Buffer | null = null;

  /** Calls `onRecord` for every complete record in `chunk` (plus the carried tail), in order. */
  push(chunk: Buffer, onRecord: (record: HelperRecord) => void): void {
    const buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = null;
    let off = 0;
    while (off + HEADER_BYTES <= buf.length) {
      const nameLength = buf.readUInt16LE(off + 2);
      const end = off + HEADER_BYTES + nameLength;
      if (end > buf.length) break;
      onRecord({
        type: buf[off],
        id: buf.readUInt32LE(off + 4),
        mask: buf.readUInt32LE(off + 8),
        arg: buf.readUInt32LE(off + 12),
        name: nameLength === 0 ? EMPTY : buf.subarray(off + HEADER_BYTES, end),
      });
      off = end;
    }
    if (off < buf.length) this.carry = Buffer.from(buf.subarray(off));
  }

  /** Bytes of an incomplete record waiting for the rest. */
  get pendingBytes(): number {
    return this.carry?.length ?? 0;
  }

  reset(): void {
    this.carry = null;
  }
}

/** `add <id> <hex path>\n`: the path's exact bytes (surrogate escapes undone), hex-encoded. */
export function addCommand(id: number, dirPath: string): string {
  return `add ${id} ${Buffer.from(encodeName(dirPath)).toString('hex')}\n`;
}

export function removeCommand(id: number): string {
  return `rm ${id}\n`;
}
