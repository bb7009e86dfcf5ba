/** The running Fustor version (package.json), reported to the controller and shown by `--version`. */
import { readFileSync } from 'node:fs';

export const FUSTOR_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0-unknown';
  }
})();
