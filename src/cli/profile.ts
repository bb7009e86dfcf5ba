/**
 * Where the user-side commands (find, tree, stat, watch) get the gateway URL, the query key and the view.
 *
 * Precedence, highest first: command-line flags, environment (`FUSTOR_SERVER`, `FUSTOR_KEY`,
 * `FUSTOR_VIEW`), the profile file `$FUSTOR_HOME/profile.yaml` (`FUSTOR_HOME` defaults to `~/.fustor`),
 * then the built-in default server `http://127.0.0.1:8101`. The profile is a flat YAML mapping:
 *
 * ```yaml
 * server: http://fusion.example:8101
 * key: query-key-1
 * view: view-a
 * ```
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

export const DEFAULT_SERVER = 'http://127.0.0.1:8101';

export interface Profile {
  server?: string;
  key?: string;
  view?: string;
}

/** What a query command needs; `view` is required by every command that calls this. */
export interface Target {
  server: string;
  key?: string;
  view: string;
}

export function fustorHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.FUSTOR_HOME && env.FUSTOR_HOME !== '' ? env.FUSTOR_HOME : join(homedir(), '.fustor');
}

export function profilePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(fustorHome(env), 'profile.yaml');
}

/** Reads the profile file; a missing file is an empty profile, a broken one is a one-line error. */
export function readProfile(file: string): Profile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read profile ${file}: ${(e as Error).message}`, { cause: e });
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new Error(`profile ${file} is not valid YAML (${(e as Error).message.split('\n')[0]}): fix or remove it`, { cause: e });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new Error(`profile ${file} must be a mapping with server, key and view: fix or remove it`);
  }
  const out: Profile = {};
  for (const field of ['server', 'key', 'view'] as const) {
    const value = (doc as Record<string, unknown>)[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw new Error(`profile ${file}: '${field}' must be a string`);
    out[field] = value;
  }
  return out;
}

const pick = (...values: (string | undefined)[]): string | undefined => values.find((v) => v !== undefined && v !== '');

/** Merges flags, environment and profile into the target of a query command. */
export function resolveTarget(flags: Profile, env: NodeJS.ProcessEnv = process.env): Target {
  const profile = readProfile(profilePath(env));
  const view = pick(flags.view, env.FUSTOR_VIEW, profile.view);
  if (view === undefined) {
    throw new Error(`no view given: pass --view NAME, set FUSTOR_VIEW or add 'view:' to ${profilePath(env)}`);
  }
  const server = pick(flags.server, env.FUSTOR_SERVER, profile.server) ?? DEFAULT_SERVER;
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new Error(`server '${server}' is not a URL: pass --server http://HOST:PORT`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`server '${server}' must be an http:// or https:// URL: pass --server http://HOST:PORT`);
  }
  return { server: server.replace(/\/+$/, ''), key: pick(flags.key, env.FUSTOR_KEY, profile.key), view };
}
