/**
 * Reading a configuration directory: every `*.yaml`/`*.yml` file, in file-name order, parsed with line
 * numbers so that any problem becomes ONE line naming the file and the field (or line). Gateway and agent
 * configurations share this; each validates and merges its own sections.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';

export class ConfigFileError extends Error {
  constructor(readonly file: string, readonly field: string | null, readonly problem: string) {
    super(`config error in ${file}: ${field === null ? '' : `${field}: `}${problem}`);
    this.name = 'ConfigFileError';
  }
}

/** Parse every YAML file of `dir` in file-name order. Throws ConfigFileError. */
export function readYamlConfigDir(dir: string): { file: string; doc: unknown }[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new ConfigFileError(dir, null, 'not a directory');
    names = readdirSync(dir).filter((n) => n.endsWith('.yaml') || n.endsWith('.yml')).sort();
  } catch (e) {
    if (e instanceof ConfigFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigFileError(dir, null, code === 'ENOENT' ? 'no such directory' : `cannot read the directory (${code ?? String(e)})`);
  }
  if (names.length === 0) throw new ConfigFileError(dir, null, 'no *.yaml file in the directory');
  return names.map((n) => join(dir, n)).map((file) => ({ file, doc: parseYamlFile(file) }));
}

/** Parse one YAML file; the first syntax error becomes a ConfigFileError naming its line. */
export function parseYamlFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigFileError(file, null, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  // yaml rejects duplicate mapping keys by default (uniqueKeys), which catches a key defined twice in one file.
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    throw new ConfigFileError(file, `line ${lineCounter.linePos(err.pos[0]).line}`, err.message.split('\n')[0]);
  }
  // Alias expansion is bounded so a "billion laughs" document cannot exhaust memory.
  return doc.toJS({ maxAliasCount: 100 });
}
