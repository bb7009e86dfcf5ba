/**
 * Loads the standalone agent configuration (spec 40, predecessor §3.1): every `*.yaml` of a directory,
 * merged in file-name order per section and id (a later definition replaces the earlier one, with a
 * warning), each entry validated against its TypeBox schema, then checked semantically (dangling
 * references, two pipes with the same source+sender pair). Every problem is ONE AgentConfigError line
 * naming the file and the field. Credential values never appear in messages.
 */
import { hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import { Compile } from 'typebox/compile';
import type { TSchema } from 'typebox';
import { ConfigFileError, readYamlConfigDir } from '../../kernel/yaml-config-dir.ts';
import { compileFieldsMapping, type MappingEntry } from '../pipe/fields-mapping.ts';
import { AGENT_ID_PATTERN, PipeConfig, SenderConfig, SourceConfig, TopLevel, type DebugFault } from './agent-config-schema.ts';

export class AgentConfigError extends ConfigFileError {
  constructor(file: string, field: string | null, problem: string) {
    super(file, field, problem);
    this.name = 'AgentConfigError';
  }
}

/** Everything one pipe worker needs: the pipe with its source and sender resolved. Plain data (structured-clonable). */
export interface ResolvedPipe {
  agentId: string;
  pipeId: string;
  source: { id: string; uri: string; filePattern: string; throttleIntervalSec: number; maxScanWorkers: number; watchLimit: number };
  /** `credentialFile` (managed mode): the member credential is read from this file instead of `key`. */
  sender: { id: string; uri: string; key: string; timeoutSec: number; credentialFile: string | null };
  /** null = use the gateway's value from the session response. */
  auditIntervalSec: number | null;
  sentinelIntervalSec: number | null;
  /** Every Nth audit starts with an empty directory-mtime cache (0 = never). */
  fullAuditEvery: number;
  sessionTimeoutSeconds: number | null;
  fieldsMapping: Record<string, unknown>[];
  maxMemoryMb: number;
  /** Test hook, off (null) by default. */
  debugFault: DebugFault | null;
}

export interface AgentConfig {
  agentId: string;
  /** Enabled pipes only, by id. */
  pipes: Map<string, ResolvedPipe>;
  /** Pipes defined but disabled (or whose source/sender is disabled). */
  disabled: string[];
}

export interface LoadedAgentConfig { config: AgentConfig; files: string[]; warnings: string[] }

const SECTIONS = ['sources', 'senders', 'pipes'] as const;
type Section = (typeof SECTIONS)[number];
const ID = new RegExp(AGENT_ID_PATTERN);
const checkers: Record<Section | 'top', ReturnType<typeof Compile>> = {
  top: Compile(TopLevel as TSchema),
  sources: Compile(SourceConfig as TSchema),
  senders: Compile(SenderConfig as TSchema),
  pipes: Compile(PipeConfig as TSchema),
};
const DRIVERS: Partial<Record<Section, string>> = { sources: 'fs', senders: 'fusion' };

type Doc = Record<string, unknown>;

export function loadAgentConfigDir(dir: string): LoadedAgentConfig {
  try {
    return mergeAgentConfigDocs(readYamlConfigDir(dir));
  } catch (e) {
    if (e instanceof ConfigFileError && !(e instanceof AgentConfigError)) throw new AgentConfigError(e.file, e.field, e.problem);
    throw e;
  }
}


/** Merge parsed documents in order, validate, resolve. Exposed for tests and the managed mode. */
export function mergeAgentConfigDocs(sources: { file: string; doc: unknown }[], defaults: { agentId?: string } = {}): LoadedAgentConfig {
  const merged: Record<string, unknown> = {};
  const sections: Record<Section, Map<string, { entry: Doc; file: string }>> = { sources: new Map(), senders: new Map(), pipes: new Map() };
  const origin = new Map<string, string>();
  const warnings: string[] = [];
  for (const { file, doc } of sources) {
    if (doc === null || doc === undefined) continue;
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new AgentConfigError(file, null, 'the document must be a mapping (agent_id, sources, senders, pipes)');
    const d = doc as Doc;
    const top = firstError(checkers.top, d);
    if (top !== null) throw new AgentConfigError(file, top.field, top.problem);
    for (const [key, value] of Object.entries(d)) {
      if ((SECTIONS as readonly string[]).includes(key)) {
        if (value === null || value === undefined) continue;
        if (typeof value !== 'object' || Array.isArray(value)) throw new AgentConfigError(file, key, 'must be a mapping of id → definition');
        for (const [id, entry] of Object.entries(value as Doc)) {
          const where = `${key}.${id}`;
          if (!ID.test(id)) throw new AgentConfigError(file, where, `'${id}' is not a valid id (letters, digits, '_', '.', '-'; at most 64 characters; starts with a letter or digit)`);
          const prev = sections[key as Section].get(id);
          if (prev !== undefined) warnings.push(`${where} defined in ${prev.file} is replaced by the definition in ${file}`);
          sections[key as Section].set(id, { entry: entry as Doc, file });
        }
      } else {
        const prev = origin.get(key);
        if (prev !== undefined && JSON.stringify(merged[key]) !== JSON.stringify(value)) warnings.push(`${key} set in ${prev} is replaced by the value in ${file}`);
        merged[key] = value;
        origin.set(key, file);
      }
    }
  }
  for (const section of SECTIONS) {
    for (const [id, { entry, file }] of sections[section]) checkEntry(section, id, entry, file);
  }
  const agentId = (merged.agent_id as string | undefined) ?? defaults.agentId ?? defaultAgentId();
  return { config: resolve(agentId, sections), files: sources.map((s) => s.file), warnings };
}

function defaultAgentId(): string {
  const h = hostname().replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64);
  return h === '' ? 'agent' : h;
}

function checkEntry(section: Section, id: string, entry: unknown, file: string): void {
  const where = `${section}.${id}`;
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new AgentConfigError(file, where, 'must be a mapping');
  const e = entry as Doc;
  const driver = DRIVERS[section];
  if (driver !== undefined) {
    if (e.driver === undefined) throw new AgentConfigError(file, `${where}.driver`, 'required field is missing');
    if (e.driver !== driver) throw new AgentConfigError(file, `${where}.driver`, `unknown driver '${String(e.driver)}' (known drivers: ${driver})`);
  }
  const err = firstError(checkers[section], e);
  if (err !== null) throw new AgentConfigError(file, `${where}.${err.field}`, err.problem);
  if (section === 'sources') {
    const uri = stripFileScheme(e.uri as string);
    if (!isAbsolute(uri)) throw new AgentConfigError(file, `${where}.uri`, 'must be an absolute directory path');
  }
  if (section === 'senders' && !/^https?:\/\/[^/]/.test(e.uri as string)) throw new AgentConfigError(file, `${where}.uri`, 'must be an http:// or https:// URL');
  if (section === 'pipes' && Array.isArray(e.fields_mapping)) {
    try {
      compileFieldsMapping(e.fields_mapping as MappingEntry[]);
    } catch (err) {
      throw new AgentConfigError(file, `${where}.fields_mapping`, (err as Error).message.replace(/^fields_mapping(\[\d+\])?\.?\s*/, '$1 ').trim());
    }
  }
}

function stripFileScheme(uri: string): string {
  return uri.startsWith('file://') ? uri.slice('file://'.length) : uri;
}

interface ErrLike { instancePath: string; keyword: string; message: string; params: Record<string, unknown> }

/** First meaningful schema error as {field (relative, dotted), problem}. */
function firstError(checker: ReturnType<typeof Compile>, value: unknown): { field: string; problem: string } | null {
  if (checker.Check(value)) return null;
  const list = [...checker.Errors(value)] as ErrLike[];
  const meaningful = list.filter((e) => !(e.keyword === 'boolean' && e.message === 'schema is false'));
  const first = meaningful[0] ?? list[0];
  if (first === undefined) return { field: '(document)', problem: 'is invalid' };
  let field = first.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc === '' ? seg : `${acc}.${seg}`), '');
  let problem = first.message;
  if (first.keyword === 'additionalProperties') {
    const name = ((first.params.additionalProperties as string[] | undefined) ?? ['?'])[0];
    field = field === '' ? name : `${field}.${name}`;
    problem = 'unknown field';
  } else if (first.keyword === 'required') {
    const name = ((first.params.requiredProperties as string[] | undefined) ?? [String(first.params.missingProperty ?? '?')])[0];
    field = field === '' ? name : `${field}.${name}`;
    problem = 'required field is missing';
  } else if (first.keyword === 'const' || first.keyword === 'anyOf') {
    const allowed = list.filter((e) => e.instancePath === first.instancePath && e.keyword === 'const').map((e) => JSON.stringify(e.params.allowedValue));
    problem = allowed.length > 0 ? `must be one of ${allowed.join(', ')}` : 'has an invalid value';
  }
  return { field: field === '' ? '(document)' : field, problem };
}

function resolve(agentId: string, sections: Record<Section, Map<string, { entry: Doc; file: string }>>): AgentConfig {
  const pipes = new Map<string, ResolvedPipe>();
  const disabled: string[] = [];
  const pairs = new Map<string, string>();
  const known = (m: Map<string, unknown>) => (m.size > 0 ? [...m.keys()].join(', ') : 'none');
  for (const [id, { entry, file }] of sections.pipes) {
    const p = entry as PipeConfig;
    const where = `pipes.${id}`;
    const src = sections.sources.get(p.source);
    if (src === undefined) throw new AgentConfigError(file, `${where}.source`, `source '${p.source}' is not defined (known sources: ${known(sections.sources)})`);
    const snd = sections.senders.get(p.sender);
    if (snd === undefined) throw new AgentConfigError(file, `${where}.sender`, `sender '${p.sender}' is not defined (known senders: ${known(sections.senders)})`);
    const pair = `${p.source}\u0000${p.sender}`;
    const other = pairs.get(pair);
    if (other !== undefined) throw new AgentConfigError(file, where, `redundant configuration: pipe '${other}' already connects source '${p.source}' to sender '${p.sender}'`);
    pairs.set(pair, id);
    const s = src.entry as SourceConfig;
    const t = snd.entry as SenderConfig;
    if (p.disabled === true || s.disabled === true || t.disabled === true) {
      disabled.push(id);
      continue;
    }
    const dp = s.driver_params ?? {};
    pipes.set(id, {
      agentId,
      pipeId: id,
      source: {
        id: p.source,
        uri: stripFileScheme(s.uri).replace(/(.)\/+$/, '$1'),
        filePattern: dp.file_pattern ?? '*',
        throttleIntervalSec: dp.throttle_interval_sec ?? 5,
        maxScanWorkers: dp.max_scan_workers ?? 4,
        watchLimit: dp.watch_limit ?? 200_000,
      },
      sender: { id: p.sender, uri: t.uri.replace(/\/+$/, ''), key: t.credential.key, timeoutSec: t.timeout ?? t.driver_params?.timeout ?? t.timeout_sec ?? 30, credentialFile: null },
      auditIntervalSec: p.audit_interval_sec ?? null,
      sentinelIntervalSec: p.sentinel_interval_sec ?? null,
      fullAuditEvery: p.full_audit_every ?? 10,
      sessionTimeoutSeconds: p.session_timeout_seconds ?? null,
      fieldsMapping: p.fields_mapping ?? [],
      maxMemoryMb: p.max_memory_mb ?? 512,
      debugFault: p.debug_fault ?? null,
    });
  }
  return { agentId, pipes, disabled };
}
