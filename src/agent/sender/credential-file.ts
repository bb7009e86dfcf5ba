/**
 * The member credential as pipe workers see it in managed mode: the agent shell renews the credential at
 * half-life and rewrites `STATE_DIR/identity/credential` atomically; each worker re-reads the file when its
 * mtime changes (checked at most once a second), so a renewal reaches every pipe without restarting it.
 */
import { readFileSync, statSync } from 'node:fs';

export function credentialFromFile(file: string, now: () => number = Date.now): () => string {
  let value = '';
  let mtimeMs = -1;
  let checkedAt = -Infinity;
  return () => {
    const t = now();
    if (t - checkedAt < 1000 && value !== '') return value;
    checkedAt = t;
    try {
      const st = statSync(file);
      if (st.mtimeMs !== mtimeMs || value === '') {
        value = readFileSync(file, 'utf8').trim();
        mtimeMs = st.mtimeMs;
      }
    } catch {
      // keep the last value: the gateway answers 401 if it is stale, and the sender retries
    }
    return value;
  };
}
