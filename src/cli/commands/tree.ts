/**
 * `fustor tree [PATH]` — the subtree of a view as an indented tree (like tree(1)) or as the raw JSON of
 * `/tree`. Forest views answer with one tree per member; each is printed under its member id.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { pathProblem, type FsNode } from '../../protocol/index.ts';
import { addQueryOptions, clientFor, exitQuietlyOnClosedPipe, type QueryFlags } from '../query-client.ts';

interface TreeFlags extends QueryFlags {
  depth?: number;
  json?: boolean;
}

interface ForestAnswer {
  path: string;
  members: Record<string, { status?: string; data?: FsNode }>;
}

const byName = (a: FsNode, b: FsNode) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Renders `root` and its nested children as tree(1) does, ending with the directory and file counts. */
export function renderTree(root: FsNode): string {
  const lines = [root.path];
  const counts = { dirs: 0, files: 0 };
  const walk = (node: FsNode, prefix: string) => {
    const children = [...(node.children ?? [])].sort(byName);
    children.forEach((child, i) => {
      const last = i === children.length - 1;
      const isDir = child.content_type === 'directory';
      if (isDir) counts.dirs++;
      else counts.files++;
      lines.push(`${prefix}${last ? '└── ' : '├── '}${child.name}${isDir ? '/' : ''}`);
      if (child.children !== undefined) walk(child, prefix + (last ? '    ' : '│   '));
    });
  };
  walk(root, '');
  const dirs = counts.dirs === 1 ? '1 directory' : `${counts.dirs} directories`;
  const files = counts.files === 1 ? '1 file' : `${counts.files} files`;
  lines.push('', `${dirs}, ${files}`);
  return lines.join('\n') + '\n';
}

async function runTree(path: string, f: TreeFlags): Promise<void> {
  const problem = pathProblem(path);
  if (problem !== null) throw new Error(`PATH '${path}' is not a view path (${problem}): use a path like /upload/submit`);
  const client = clientFor(f);
  const answer = await client.get<FsNode | ForestAnswer>('tree', {
    path,
    max_depth: f.depth ?? -1,
    only_path: f.json ? undefined : true,
  });
  exitQuietlyOnClosedPipe();
  if (f.json) {
    process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
    return;
  }
  if ('members' in answer) {
    for (const [member, { status, data }] of Object.entries(answer.members)) {
      process.stdout.write(`[${member}]${status !== undefined ? ` ${status}` : ''}\n`);
      if (data !== undefined) process.stdout.write(renderTree(data));
    }
    return;
  }
  process.stdout.write(renderTree(answer));
}

export function registerTree(program: Command): void {
  addQueryOptions(program.command('tree'))
    .description('print the subtree of a view under PATH as an indented tree')
    .argument('[path]', 'view-relative path', '/')
    .option('--depth <n>', 'levels below PATH to show (0 = PATH alone; default: all)', parseDepth)
    .option('--json', 'print the JSON answer of /tree')
    .action(async (path: string, flags: TreeFlags) => runTree(path, flags));
}

function parseDepth(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < -1) throw new InvalidArgumentError('expected an integer ≥ 0 (or -1 = unlimited).');
  return n;
}
