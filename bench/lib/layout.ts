/**
 * The predecessor's benchmark layout, deterministic from a seed:
 *
 *   /upload/submit/{c1}/{c2}/{uuid}/sub_{X}/data_{XXXX}.dat
 *
 * Defaults: 1,000 submissions (uuids) × 4 sub-directories × 250 files = 1,000,000 files, spread over a
 * 10 × 10 fan-out of c1/c2 buckets. Submission i lives in bucket (i mod f1, ⌊i / f1⌋ mod f2). Sizes and
 * mtimes are derived from a hash of (seed, submission, sub, file), so a layout on disk (make-tree.ts) and
 * the same layout pushed as ingest rows describe the same files.
 *
 * Rows come parents first (the two top directories, all buckets, then each submission depth-first), in the
 * wire format of src/protocol/events.ts.
 */
import type { FsUpsertRow } from '../../src/protocol/index.ts';

export interface LayoutOptions {
  submissions: number;
  subdirs: number;
  filesPerSubdir: number;
  /** Two-level bucket fan-out [c1, c2]. */
  fanout: [number, number];
  seed: number;
  /** mtimes are spread over the 30 days before this epoch second. */
  baseTime: number;
}

export const DEFAULT_LAYOUT: LayoutOptions = {
  submissions: 1000,
  subdirs: 4,
  filesPerSubdir: 250,
  fanout: [10, 10],
  seed: 20240601,
  baseTime: 1_717_200_000,
};

/** The default layout scaled to about `files` files (whole submissions of 1,000 files each). */
export function layoutForFiles(files: number, base: LayoutOptions = DEFAULT_LAYOUT): LayoutOptions {
  const perSubmission = base.subdirs * base.filesPerSubdir;
  return { ...base, submissions: Math.max(1, Math.round(files / perSubmission)) };
}

/** 32-bit avalanche hash (murmur3 finaliser) of a few integers. */
function hash(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x01000193);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');
const DIR_SIZE = 4096;

export class Layout {
  readonly opts: LayoutOptions;
  /** Directories: /upload, /upload/submit, c1 buckets, c2 buckets, submissions, sub-directories. */
  readonly directoryCount: number;
  readonly fileCount: number;
  private readonly c1Width: number;
  private readonly c2Width: number;

  constructor(opts: Partial<LayoutOptions> = {}) {
    this.opts = { ...DEFAULT_LAYOUT, ...opts };
    const { submissions, subdirs, filesPerSubdir, fanout } = this.opts;
    const [f1, f2] = fanout;
    // Submissions 0 … f1·f2−1 fill every bucket once; later ones reuse them.
    this.directoryCount = 2 + Math.min(f1, submissions) + Math.min(f1 * f2, submissions) + submissions * (1 + subdirs);
    this.fileCount = submissions * subdirs * filesPerSubdir;
    this.c1Width = String(f1 - 1).length;
    this.c2Width = String(f2 - 1).length;
  }

  /** Every entry of the view below the root (directories and files). */
  get entryCount(): number {
    return this.directoryCount + this.fileCount;
  }

  /** Nodes of one submission directory below itself (sub-directories and files): 1,004 by default. */
  get submissionNodes(): number {
    return this.opts.subdirs * (1 + this.opts.filesPerSubdir);
  }

  /** The deterministic uuid (v4 shape) of submission i. */
  uuid(i: number): string {
    const s = this.opts.seed;
    const a = hex8(hash(s, i, 1));
    const b = hex8(hash(s, i, 2));
    const c = hex8(hash(s, i, 3));
    const d = hex8(hash(s, i, 4));
    const variant = '89ab'[hash(s, i, 5) & 3];
    return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-${variant}${c.slice(1, 4)}-${c.slice(4)}${d}`;
  }

  bucketPath(i: number): string {
    const [f1, f2] = this.opts.fanout;
    const c1 = String(i % f1).padStart(this.c1Width, '0');
    const c2 = String(Math.floor(i / f1) % f2).padStart(this.c2Width, '0');
    return `/upload/submit/${c1}/${c2}`;
  }

  /** View-relative path of submission i: /upload/submit/{c1}/{c2}/{uuid}. */
  submissionPath(i: number): string {
    return `${this.bucketPath(i)}/${this.uuid(i)}`;
  }

  fileSize(i: number, sub: number, file: number): number {
    return hash(this.opts.seed, i, sub, file, 7) % 1_048_576;
  }

  /** Files of a submission were written within an hour; submissions over 30 days. Whole seconds. */
  fileMtime(i: number, sub: number, file: number): number {
    return this.submissionMtime(i) + (hash(this.opts.seed, i, sub, file, 9) % 3600);
  }

  submissionMtime(i: number): number {
    return this.opts.baseTime - 30 * 86400 + (hash(this.opts.seed, i, 11) % (29 * 86400));
  }

  static subName(sub: number): string {
    return `sub_${sub}`;
  }

  static fileName(file: number): string {
    return `data_${String(file).padStart(4, '0')}.dat`;
  }

  /** All rows, parents before children. */
  *rows(): Generator<FsUpsertRow> {
    const { submissions, subdirs, filesPerSubdir, fanout, baseTime } = this.opts;
    const dir = (path: string, mtime: number): FsUpsertRow => ({
      path, file_name: path.slice(path.lastIndexOf('/') + 1), size: DIR_SIZE, modified_time: mtime, created_time: mtime, is_directory: true,
    });
    yield dir('/upload', baseTime);
    yield dir('/upload/submit', baseTime);
    const seen = new Set<string>();
    for (let i = 0; i < Math.min(submissions, fanout[0] * fanout[1]); i++) {
      const bucket = this.bucketPath(i);
      const c1 = bucket.slice(0, bucket.lastIndexOf('/'));
      if (!seen.has(c1)) {
        seen.add(c1);
        yield dir(c1, baseTime);
      }
    }
    for (let i = 0; i < Math.min(submissions, fanout[0] * fanout[1]); i++) yield dir(this.bucketPath(i), baseTime);
    for (let i = 0; i < submissions; i++) {
      const base = this.submissionPath(i);
      const latest = this.submissionMtime(i) + 3600;
      yield dir(base, latest);
      for (let s = 0; s < subdirs; s++) {
        const subPath = `${base}/${Layout.subName(s)}`;
        yield dir(subPath, latest);
        for (let f = 0; f < filesPerSubdir; f++) {
          const name = Layout.fileName(f);
          const mtime = this.fileMtime(i, s, f);
          yield { path: `${subPath}/${name}`, file_name: name, size: this.fileSize(i, s, f), modified_time: mtime, created_time: mtime, is_directory: false };
        }
      }
    }
  }

  /** The rows in batches of `size`. */
  *batches(size: number): Generator<FsUpsertRow[]> {
    let batch: FsUpsertRow[] = [];
    for (const row of this.rows()) {
      batch.push(row);
      if (batch.length === size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }
}

const FIELDS = ['path', 'file_name', 'size', 'modified_time', 'created_time', 'is_directory'];

/** The shape of src/protocol/events.ts EventBatch, narrowed to what a snapshot sends. */
export interface SnapshotBatch {
  events: { event_type: 'insert'; event_schema: 'fs'; table: 'files'; fields: string[]; rows: FsUpsertRow[]; index: number; message_source: 'snapshot' }[];
  source_type: 'snapshot';
  is_end: boolean;
}

/** An ingest batch of snapshot rows (spec 10); `isEnd` marks the end of the snapshot. */
export function snapshotBatch(rows: FsUpsertRow[], isEnd = false): SnapshotBatch {
  return {
    events: rows.length === 0 ? [] : [{
      event_type: 'insert',
      event_schema: 'fs',
      table: 'files',
      fields: FIELDS,
      rows,
      index: Date.now(),
      message_source: 'snapshot',
    }],
    source_type: 'snapshot',
    is_end: isEnd,
  };
}
