/**
 * Run by walker-permissions.test.ts as an unprivileged user: walks argv[2] in snapshot and then in audit
 * mode and prints one JSON line per walk with the rows, the onError calls and the audit cache.
 */
import { DirMtimeCache } from './dir-mtime-cache.ts';
import { Walker } from './walker.ts';

const root = process.argv[2];
const walker = new Walker({ idleTimeoutMs: 0 });
for (const mode of ['snapshot', 'audit'] as const) {
  const errors: string[] = [];
  const cache = new DirMtimeCache();
  const rows: unknown[] = [];
  for await (const b of walker.walk(root, { mode, dirMtimeCache: cache, onError: (p, c) => errors.push(`${p} ${c}`) })) rows.push(...b.rows);
  process.stdout.write(`${JSON.stringify({ mode, rows, errors, cache: [...cache.entries()].map(([p]) => p) })}\n`);
}
await walker.close();
