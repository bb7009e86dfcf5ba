/**
 * The node object of the query API (spec 30), as a JS object (search, metadata, changes) and as JSON
 * text (tree streaming). Both produce the same fields in the same order:
 * `{name, path, content_type, size, modified_time, created_time, integrity_suspect, agent_missing,
 *   last_agent_id, source_uri, audit_skipped? (directories), children?}`;
 * `onlyPath` keeps `name`, `path`, `content_type`.
 */
import type { FsNode } from '../../protocol/index.ts';
import { FLAG_AGENT_MISSING, FLAG_AUDIT_SKIPPED, FLAG_DIRECTORY, FLAG_SUSPECT, type Lineage, type TreeStore } from '../tree/tree-store.ts';

export function fsNode(tree: TreeStore, id: number, path: string, onlyPath = false): FsNode {
  const flags = tree.flags(id);
  const dir = (flags & FLAG_DIRECTORY) !== 0;
  const name = tree.name(id);
  if (onlyPath) return { name, path, content_type: dir ? 'directory' : 'file' };
  const lineage = tree.lineage(id);
  const node: FsNode = {
    name,
    path,
    content_type: dir ? 'directory' : 'file',
    size: tree.size(id),
    modified_time: tree.mtime(id),
    created_time: tree.ctime(id),
    integrity_suspect: (flags & FLAG_SUSPECT) !== 0,
    agent_missing: (flags & FLAG_AGENT_MISSING) !== 0,
    last_agent_id: lineage.agentId,
    source_uri: lineage.sourceUri,
  };
  if (dir) node.audit_skipped = (flags & FLAG_AUDIT_SKIPPED) !== 0;
  return node;
}

/**
 * Writes node objects as JSON text. `head()` returns the object without its closing brace so the
 * caller can append `children` or `next_cursor`. Lineage fragments are escaped once per writer.
 */
export class NodeJson {
  private readonly lineageText = new Map<Lineage, string>();

  constructor(private readonly tree: TreeStore, private readonly onlyPath: boolean) {}

  head(id: number, name: string, path: string): string {
    const tree = this.tree;
    const flags = tree.flags(id);
    const dir = (flags & FLAG_DIRECTORY) !== 0;
    const start = `{"name":${JSON.stringify(name)},"path":${JSON.stringify(path)},"content_type":${dir ? '"directory"' : '"file"'}`;
    if (this.onlyPath) return start;
    const lineage = tree.lineage(id);
    let lin = this.lineageText.get(lineage);
    if (lin === undefined) {
      lin = `,"last_agent_id":${JSON.stringify(lineage.agentId)},"source_uri":${JSON.stringify(lineage.sourceUri)}`;
      this.lineageText.set(lineage, lin);
    }
    return `${start},"size":${tree.size(id)},"modified_time":${tree.mtime(id)},"created_time":${tree.ctime(id)}`
      + `,"integrity_suspect":${(flags & FLAG_SUSPECT) !== 0},"agent_missing":${(flags & FLAG_AGENT_MISSING) !== 0}${lin}`
      + (dir ? `,"audit_skipped":${(flags & FLAG_AUDIT_SKIPPED) !== 0}` : '');
  }
}
