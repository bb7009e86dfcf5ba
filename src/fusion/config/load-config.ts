/**
 * Loads the standalone gateway configuration (spec 10): every `*.yaml` file of a directory, merged in
 * file-name order per section and id (a later definition replaces the earlier one, with a warning),
 * validated structurally file by file (so an error names its file) and semantically after the merge
 * (references between sections, keys bound twice). Any problem is one ConfigError line naming the
 * file and the field. Key values never appear in messages.
 */
import { Compile } from 'typebox/compile';
import { ConfigFileError, readYamlConfigDir } from '../../kernel/yaml-config-dir.ts';
import { FusionConfig, ID_PATTERN } from '../../protocol/index.ts';
import { describeSchemaErrors, type SchemaError } from './schema-errors.ts';
import { resolveConfig, type ResolvedConfig } from './resolved-config.ts';

export class ConfigError extends ConfigFileError {
  constructor(file: string, field: string | null, problem: string) {
    super(file, field, problem);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: ResolvedConfig;
  files: string[];
  /** Replacements of an earlier definition: logged by the caller as warnings. */
  warnings: string[];
}

const SECTIONS = ['receivers', 'views', 'pipes'] as const;
type Section = (typeof SECTIONS)[number];
const DRIVERS: Record<Section, readonly string[] | null> = { receivers: ['http'], views: ['fs', 'forest-fs'], pipes: null };

const checker = Compile(FusionConfig);
const ID = new RegExp(ID_PATTERN);

type Doc = Record<string, unknown>;

/** Read, merge and validate DIR. Throws ConfigError. */
export function loadConfigDir(dir: string): LoadedConfig {
  try {
    return mergeConfigDocs(readYamlConfigDir(dir));
  } catch (e) {
    if (e instanceof ConfigFileError && !(e instanceof ConfigError)) throw new ConfigError(e.file, e.field, e.problem);
    throw e;
  }
}

/** Merge parsed documents (in order) and validate. Exposed for tests and the controller-fed mode. */
export function mergeConfigDocs(sources: { file: string; doc: unknown }[]): LoadedConfig {
  const merged: Doc = {};
  const origin = new Map<string, string>(); // 'port' | 'pipes.p' → file
  const warnings: string[] = [];
  for (const { file, doc } of sources) {
    if (doc === null || doc === undefined) continue;
    checkStructure(file, doc);
    for (const [key, value] of Object.entries(doc as Doc)) {
      if ((SECTIONS as readonly string[]).includes(key)) {
        const section = (merged[key] ??= {}) as Doc;
        for (const [id, entry] of Object.entries(value as Doc)) {
          const prev = origin.get(`${key}.${id}`);
          if (prev !== undefined) warnings.push(`${key}.${id} defined in ${prev} is replaced by the definition in ${file}`);
          section[id] = entry;
          origin.set(`${key}.${id}`, file);
        }
      } else {
        const prev = origin.get(key);
        if (prev !== undefined && JSON.stringify(merged[key]) !== JSON.stringify(value)) warnings.push(`${key} set in ${prev} is replaced by the value in ${file}`);
        merged[key] = value;
        origin.set(key, file);
      }
    }
  }
  const fallback = sources.at(-1)?.file ?? '(none)';
  checkReferences(merged as FusionConfig, (where) => origin.get(where) ?? fallback);
  return { config: resolveConfig(merged as FusionConfig), files: sources.map((s) => s.file), warnings };
}


/** Structural validation of one file against the FusionConfig schema, with friendlier driver messages. */
function checkStructure(file: string, doc: unknown): void {
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(file, null, 'the document must be a mapping (host, port, receivers, views, pipes)');
  const d = doc as Doc;
  for (const section of SECTIONS) {
    const value = d[section];
    if (value === undefined || value === null) {
      delete d[section];
      continue;
    }
    if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(file, section, 'must be a mapping of id → definition');
    for (const [id, entry] of Object.entries(value as Doc)) {
      if (!ID.test(id)) throw new ConfigError(file, `${section}.${id}`, `'${id}' is not a valid id (letters, digits, '_', '.', '-'; at most 64 characters; starts with a letter or digit)`);
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigError(file, `${section}.${id}`, 'must be a mapping');
      const e = entry as Doc;
      const known = DRIVERS[section];
      if (known !== null && e.driver !== undefined && !known.includes(e.driver as string)) {
        throw new ConfigError(file, `${section}.${id}.driver`, `unknown driver '${String(e.driver)}' (known drivers: ${known.join(', ')})`);
      }
      // `api_keys` may be omitted: no key authorises anything then.
      if (section !== 'pipes' && e.api_keys === undefined) e.api_keys = [];
    }
  }
  const found = describeSchemaErrors(checker.Errors(d) as SchemaError[], '', (segs) => segs.length === 1 && (SECTIONS as readonly string[]).includes(segs[0]));
  if (found !== null) throw new ConfigError(file, found.field, found.problem);
}

/** Cross-section rules, checked on the merged document. */
function checkReferences(doc: FusionConfig, fileOf: (where: string) => string): void {
  const receivers = doc.receivers ?? {};
  const views = doc.views ?? {};
  const pipes = doc.pipes ?? {};
  const known = (ids: object) => (Object.keys(ids).length > 0 ? Object.keys(ids).join(', ') : 'none');

  for (const [id, p] of Object.entries(pipes)) {
    const where = `pipes.${id}`;
    if (!(p.receiver in receivers)) throw new ConfigError(fileOf(where), `${where}.receiver`, `receiver '${p.receiver}' is not defined (known receivers: ${known(receivers)})`);
    p.views.forEach((v, i) => {
      if (!(v in views)) throw new ConfigError(fileOf(where), `${where}.views[${i}]`, `view '${v}' is not defined (known views: ${known(views)})`);
      if (p.views.indexOf(v) !== i) throw new ConfigError(fileOf(where), `${where}.views[${i}]`, `view '${v}' is listed twice`);
    });
  }

  const bound = new Map<string, { pipeId: string; where: string }>();
  for (const [id, r] of Object.entries(receivers)) {
    const where = `receivers.${id}`;
    r.api_keys.forEach((k, i) => {
      const field = `${where}.api_keys[${i}]`;
      const pipe = pipes[k.pipe_id];
      if (pipe === undefined) throw new ConfigError(fileOf(where), `${field}.pipe_id`, `pipe '${k.pipe_id}' is not defined (known pipes: ${known(pipes)})`);
      if (pipe.receiver !== id) throw new ConfigError(fileOf(where), `${field}.pipe_id`, `pipe '${k.pipe_id}' uses receiver '${pipe.receiver}', not '${id}'`);
      const prev = bound.get(k.key);
      if (prev !== undefined) {
        const problem = prev.pipeId === k.pipe_id
          ? `duplicate key (already listed at ${prev.where})`
          : `this key is already bound to pipe '${prev.pipeId}' (${prev.where}); a receiver key authorises exactly one pipe`;
        throw new ConfigError(fileOf(where), `${field}.key`, problem);
      }
      bound.set(k.key, { pipeId: k.pipe_id, where: field });
    });
  }

  for (const [id, v] of Object.entries(views)) {
    const where = `views.${id}`;
    for (const list of ['api_keys', 'admin_keys'] as const) {
      const keys = v[list] ?? [];
      keys.forEach((k, i) => {
        if (keys.indexOf(k) !== i) throw new ConfigError(fileOf(where), `${where}.${list}[${i}]`, `duplicate key (already listed at ${list}[${keys.indexOf(k)}])`);
      });
    }
  }
}
