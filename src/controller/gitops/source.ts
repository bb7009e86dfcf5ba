/**
 * `--git REPO[#branch[:dir]]`: REPO is anything `git fetch` accepts (a path or a URL); branch defaults to the
 * remote HEAD; dir is the sub-directory holding the YAML files (default: the repository root).
 */
export interface GitSource {
  repo: string;
  /** undefined = the remote's default branch (resolved at start). */
  branch: string | undefined;
  /** '' = the root; otherwise a relative path without leading/trailing slashes. */
  dir: string;
}

export class GitSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GitSourceError';
  }
}

const BRANCH = /^[A-Za-z0-9._][A-Za-z0-9._/-]*$/;

export function parseGitSource(spec: string): GitSource {
  const hash = spec.lastIndexOf('#');
  const repo = (hash < 0 ? spec : spec.slice(0, hash)).trim();
  const rest = hash < 0 ? '' : spec.slice(hash + 1);
  const colon = rest.indexOf(':');
  const branch = colon < 0 ? rest : rest.slice(0, colon);
  const dir = (colon < 0 ? '' : rest.slice(colon + 1)).replace(/^\/+|\/+$/g, '');
  if (repo === '') throw new GitSourceError('--git needs a repository: --git REPO[#branch[:dir]]');
  if (repo.startsWith('-')) throw new GitSourceError(`--git ${JSON.stringify(repo)}: a repository cannot start with '-'`);
  if (branch !== '' && (!BRANCH.test(branch) || branch.includes('..') || branch.endsWith('.lock'))) {
    throw new GitSourceError(`--git: ${JSON.stringify(branch)} is not a branch name (write --git REPO#main:deploy)`);
  }
  if (dir.split('/').some((p) => p === '..' || p === '.') || dir.includes('\\')) {
    throw new GitSourceError(`--git: the directory ${JSON.stringify(dir)} must be a plain path inside the repository (no '.' or '..')`);
  }
  return { repo, branch: branch === '' ? undefined : branch, dir };
}

/** `REPO#branch` (and `:dir` when set) — how messages name the source. */
export function describeSource(s: GitSource, branch = s.branch ?? 'HEAD'): string {
  return `${s.repo}#${branch}${s.dir === '' ? '' : `:${s.dir}`}`;
}
