/**
 * The controller's private copy of the repository: a bare repository under the data dir, fetched with the
 * system `git` (no shell, bounded time, never prompting). Reads the YAML files of one commit straight from
 * the object store (no work tree).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

const GIT_TIMEOUT_MS = 120_000;
const MAX_OUTPUT = 64 * 1024 * 1024;

export class GitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GitError';
  }
}

export interface GitFile { path: string; text: string }

export function git(args: string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, {
      cwd, timeout: GIT_TIMEOUT_MS, maxBuffer: MAX_OUTPUT, encoding: 'utf8',
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', LC_ALL: 'C' },
    }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return reject(new GitError('the git command is not installed (needed for --git)'));
      const why = stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(-1)[0] ?? err.message;
      reject(new GitError(`git ${args[0]} failed: ${why}`));
    });
  });
}

export class GitMirror {
  private constructor(readonly dir: string, private readonly repo: string) {}

  /** Create (or reuse) the bare repository for REPO under `baseDir`. */
  static async open(baseDir: string, repo: string): Promise<GitMirror> {
    const id = createHash('sha256').update(repo).digest('hex').slice(0, 16);
    const dir = join(baseDir, `${id}.git`);
    if (!existsSync(join(dir, 'HEAD'))) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      await git(['init', '--quiet', '--bare', dir]);
    }
    await git(['config', 'remote.origin.url', repo], dir);
    return new GitMirror(dir, repo);
  }

  /** The remote's default branch (what `git clone` would check out). */
  async defaultBranch(): Promise<string> {
    const out = await git(['ls-remote', '--symref', 'origin', 'HEAD'], this.dir);
    const m = /^ref: refs\/heads\/(\S+)\s+HEAD$/m.exec(out);
    if (m === null) throw new GitError(`${this.repo} has no default branch (empty repository?): name one with --git REPO#branch`);
    return m[1];
  }

  /** Fetch BRANCH and return its head commit id. */
  async fetch(branch: string): Promise<string> {
    await git(['fetch', '--quiet', '--force', '--no-tags', 'origin', `+refs/heads/${branch}:refs/heads/${branch}`], this.dir);
    return (await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], this.dir)).trim();
  }

  /** Whether the mirror holds COMMIT (a commit another replica fetched later may not be here yet). */
  async hasCommit(commit: string): Promise<boolean> {
    if (!/^[0-9a-f]{7,64}$/.test(commit)) return false;
    return git(['cat-file', '-e', `${commit}^{commit}`], this.dir).then(() => true, () => false);
  }

  /** Whether OLDER is an ancestor of (or equal to) NEWER; both must be in the mirror. */
  async isAncestor(older: string, newer: string): Promise<boolean> {
    return git(['merge-base', '--is-ancestor', older, newer], this.dir).then(() => true, () => false);
  }

  /** Every `*.yaml`/`*.yml` under `sub` ('' = root) in COMMIT, path order. */
  async yamlFiles(commit: string, sub: string): Promise<GitFile[]> {
    const args = ['ls-tree', '-r', '-z', '--name-only', commit];
    if (sub !== '') args.push('--', `${sub}/`);
    const paths = (await git(args, this.dir)).split('\0').filter((p) => /\.ya?ml$/.test(p)).sort();
    const files: GitFile[] = [];
    for (const path of paths) files.push({ path, text: await git(['cat-file', 'blob', `${commit}:${path}`], this.dir) });
    return files;
  }
}
