/** Commander argument parsers shared by the long-running commands: a bad value is one line naming the fix. */
import { InvalidArgumentError } from 'commander';

export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('must be an integer from 0 to 65535 (0 = any free port)');
  return n;
}

/** An http(s) URL without trailing slashes; `example` shows the expected shape in the error. */
export function httpUrlParser(example: string): (value: string) => string {
  return (value) => {
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      throw new InvalidArgumentError(`must be an http(s) URL, e.g. ${example}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError(`must be an http(s) URL, e.g. ${example}`);
    return value.replace(/\/+$/, '');
  };
}
